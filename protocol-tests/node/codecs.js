'use strict'
// Compression codecs for kafkajs, which ships only gzip.
//   snappy: kafkajs-snappy (the KafkaJS project's plugin; pure JS via snappyjs)
//   lz4:    lz4js (pure JS LZ4 frame format). The KafkaJS plugin `kafkajs-lz4`
//           depends on the native `lz4` module (node-gyp); avoided so installs
//           need no compiler and no Node headers download.
//   zstd:   @bokuweb/zstd-wasm (WebAssembly). The KafkaJS plugin `@kafkajs/zstd`
//           depends on native `cppzst`, which does not build on Node 20.
// The adapters below are the kafkajs codec interface: compress(encoder) and
// decompress(buffer), both async.
const { CompressionTypes, CompressionCodecs } = require('kafkajs')
const SnappyCodec = require('kafkajs-snappy')
const lz4 = require('lz4js')
const zstd = require('@bokuweb/zstd-wasm')

let zstdReady = null

async function register() {
  CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec
  CompressionCodecs[CompressionTypes.LZ4] = () => ({
    async compress(encoder) {
      return Buffer.from(lz4.compress(encoder.buffer))
    },
    async decompress(buffer) {
      return Buffer.from(lz4.decompress(buffer))
    },
  })
  zstdReady = zstdReady || zstd.init()
  await zstdReady
  CompressionCodecs[CompressionTypes.ZSTD] = () => ({
    async compress(encoder) {
      return Buffer.from(zstd.compress(encoder.buffer, 3))
    },
    async decompress(buffer) {
      return Buffer.from(zstd.decompress(buffer))
    },
  })
}

const byName = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
}

module.exports = { register, byName }
