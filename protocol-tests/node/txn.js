'use strict'
// kafkajs 2.2.4 transactions driver for ../test_transactions.py. Prints exactly one JSON
// document on stdout (the last line); failures are {"error": {...}, "step": "..."} with
// exit code 1.
//
//   node txn.js produce <bootstrap> <topic> <transactionalId> <group> <offsetsTopic>
//     producer({ transactionalId, idempotent: true, maxInFlightRequests: 1 }), then three
//     transactions on <topic> partition 0:
//       1. send c0..c2, sendOffsets(<group>: <offsetsTopic>[0] = 2), commit
//       2. send a0..a1, sendOffsets(<group>: <offsetsTopic>[0] = 9), abort
//       3. send d0, commit
//     Prints {"sends": [[{partition, errorCode, baseOffset}], ...]} (one list per send).
//   node txn.js consume <bootstrap> <topic> <group> <count> <readUncommitted:0|1>
//     A group consumer (fromBeginning, autoCommit off) with readUncommitted as given
//     (kafkajs' default is false: read_committed). Reads until <count> records (an aborted
//     record delivered by mistake shows up among them, since aborted data precedes the
//     last committed record in the tests). Prints {"records": [[offset, value]]}.
const { Kafka, logLevel } = require('kafkajs')

let step = 'init'

function errInfo(e) {
  return {
    name: e && e.name,
    type: e && e.type,
    code: e && e.code,
    message: e && e.message,
    retriable: e && e.retriable,
    cause: e && e.originalError ? errInfo(e.originalError) : undefined,
  }
}

function client(bootstrap) {
  return new Kafka({
    clientId: 'strait-protocol-tests-kafkajs-txn',
    brokers: [bootstrap],
    logLevel: logLevel.ERROR,
    connectionTimeout: 10000,
    requestTimeout: 30000,
    retry: { retries: 5, initialRetryTime: 200 },
  })
}

const sleep = ms => new Promise(r => setTimeout(r, ms))

async function produce(bootstrap, topic, transactionalId, group, offsetsTopic) {
  const producer = client(bootstrap).producer({ transactionalId, idempotent: true, maxInFlightRequests: 1 })
  step = 'connect'
  await producer.connect()
  const sends = []
  const send = async (txn, values) => {
    const res = await txn.send({ topic, acks: -1, messages: values.map(v => ({ partition: 0, value: v })) })
    sends.push(res.map(r => ({ partition: r.partition, errorCode: r.errorCode, baseOffset: String(r.baseOffset) })))
  }
  const offsets = offset => ({
    consumerGroupId: group,
    topics: [{ topic: offsetsTopic, partitions: [{ partition: 0, offset: String(offset) }] }],
  })
  try {
    step = 'transaction 1'
    let txn = await producer.transaction()
    await send(txn, ['c0', 'c1', 'c2'])
    step = 'sendOffsets 1'
    await txn.sendOffsets(offsets(2))
    step = 'commit 1'
    await txn.commit()

    step = 'transaction 2'
    txn = await producer.transaction()
    await send(txn, ['a0', 'a1'])
    step = 'sendOffsets 2'
    await txn.sendOffsets(offsets(9))
    step = 'abort 2'
    await txn.abort()

    step = 'transaction 3'
    txn = await producer.transaction()
    await send(txn, ['d0'])
    step = 'commit 3'
    await txn.commit()
  } finally {
    await producer.disconnect()
  }
  return { sends }
}

async function consume(bootstrap, topic, group, count, readUncommitted) {
  const consumer = client(bootstrap).consumer({ groupId: group, readUncommitted, maxWaitTimeInMs: 200 })
  const records = []
  step = 'connect'
  await consumer.connect()
  try {
    await consumer.subscribe({ topic, fromBeginning: true })
    step = 'run'
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) records.push([Number(m.offset), m.value.toString()])
      },
    })
    const deadline = Date.now() + 60000
    while (records.length < count) {
      if (Date.now() > deadline) throw new Error(`timed out with ${records.length} of ${count} records`)
      await sleep(20)
    }
  } finally {
    await consumer.disconnect()
  }
  return { records }
}

async function main() {
  const [cmd, ...args] = process.argv.slice(2)
  let result
  if (cmd === 'produce') {
    result = await produce(...args)
  } else if (cmd === 'consume') {
    const [bootstrap, topic, group, count, ru] = args
    result = await consume(bootstrap, topic, group, parseInt(count, 10), ru === '1')
  } else {
    throw new Error(`unknown command ${cmd}`)
  }
  process.stdout.write(JSON.stringify(result) + '\n')
}

main().then(
  () => process.exit(0),
  e => {
    process.stdout.write(JSON.stringify({ step, error: errInfo(e) }) + '\n')
    process.exit(1)
  }
)
