'use strict'
// kafkajs 2.2.4 driver for ../test_kafkajs.py. Each command prints exactly one
// JSON document on stdout (the last line); pytest asserts on it. Failures are
// reported as {"error": {...}, "step": "..."} with exit code 1.
//
//   node driver.js produce <bootstrap> <topic> <codec> <idempotent:0|1> <count>
//   node driver.js admin   <bootstrap> <topicPrefix>
//
// kafkajs consumers need consumer groups (JoinGroup/SyncGroup); those are
// exercised by groups.js / test_groups_kafkajs.py. Here what kafkajs produces
// is read back by pytest with confluent-kafka (assign, no group), so the
// data-plane checks do not depend on the group coordinator.
const { Kafka, logLevel, ConfigResourceTypes } = require('kafkajs')
const codecs = require('./codecs')

let step = 'init'

function errInfo(e) {
  return {
    name: e && e.name,
    type: e && e.type,
    code: e && e.code,
    message: e && e.message,
    retriable: e && e.retriable,
    errors: e && Array.isArray(e.errors) ? e.errors.map(errInfo) : undefined,
    cause: e && e.originalError ? errInfo(e.originalError) : undefined,
  }
}

function client(bootstrap) {
  return new Kafka({
    clientId: 'strait-protocol-tests-kafkajs',
    brokers: [bootstrap],
    logLevel: logLevel.ERROR,
    connectionTimeout: 10000,
    requestTimeout: 20000,
    retry: { retries: 3, initialRetryTime: 200 },
  })
}

async function produce(bootstrap, topic, codec, idempotent, count) {
  await codecs.register()
  const kafka = client(bootstrap)
  const producer = kafka.producer(
    idempotent ? { idempotent: true, maxInFlightRequests: 1 } : { allowAutoTopicCreation: true }
  )
  step = 'connect'
  await producer.connect()
  const sends = []
  const tsBase = 1_680_000_000_000
  const perSend = Math.max(1, Math.ceil(count / 4))
  try {
    for (let start = 0; start < count; start += perSend) {
      const messages = []
      for (let i = start; i < Math.min(count, start + perSend); i++) {
        const m = { partition: 0, value: `js-${codec}-${i}-` + 'q'.repeat(i % 40) }
        if (i % 4 !== 1) m.key = `key-${i}`
        if (i % 3 === 0) m.headers = { idx: String(i), codec }
        if (i % 2 === 0) m.timestamp = String(tsBase + i)
        messages.push(m)
      }
      step = `send ${start}`
      const res = await producer.send({
        topic,
        acks: -1,
        compression: codecs.byName[codec],
        messages,
      })
      sends.push(res.map(r => ({ partition: r.partition, errorCode: r.errorCode, baseOffset: String(r.baseOffset) })))
    }
  } finally {
    await producer.disconnect()
  }
  return { sends, tsBase }
}

async function admin(bootstrap, prefix) {
  const kafka = client(bootstrap)
  const a = kafka.admin()
  const out = {}
  step = 'connect'
  await a.connect()
  try {
    const t = `${prefix}-a`
    const t2 = `${prefix}-b`

    step = 'describeCluster'
    out.cluster = await a.describeCluster()

    step = 'createTopics'
    out.created = await a.createTopics({
      waitForLeaders: true,
      topics: [
        { topic: t, numPartitions: 2, replicationFactor: 1, configEntries: [{ name: 'retention.ms', value: '5400000' }] },
        { topic: t2, numPartitions: 1 },
      ],
    })
    step = 'createTopics existing'
    out.createdAgain = await a.createTopics({ topics: [{ topic: t, numPartitions: 1 }] })

    step = 'createTopics invalid config'
    try {
      await a.createTopics({ topics: [{ topic: `${prefix}-bad`, configEntries: [{ name: 'retention.ms', value: 'soon' }] }] })
      out.invalidConfig = { error: null }
    } catch (e) {
      out.invalidConfig = { error: errInfo(e) }
    }

    step = 'listTopics'
    out.topics = (await a.listTopics()).filter(x => x.startsWith(prefix)).sort()

    step = 'fetchTopicMetadata'
    out.metadata = await a.fetchTopicMetadata({ topics: [t] })

    step = 'describeConfigs'
    const dc = await a.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: t, configNames: ['retention.ms', 'cleanup.policy'] }],
    })
    out.configs = dc.resources.map(r => ({
      errorCode: r.errorCode,
      entries: Object.fromEntries(r.configEntries.map(e => [e.configName, e.configValue])),
    }))

    step = 'alterConfigs'
    await a.alterConfigs({
      resources: [{ type: ConfigResourceTypes.TOPIC, name: t, configEntries: [{ name: 'retention.ms', value: '3600000' }] }],
    })
    const dc2 = await a.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: t, configNames: ['retention.ms'] }],
    })
    out.configsAfterAlter = Object.fromEntries(dc2.resources[0].configEntries.map(e => [e.configName, e.configValue]))

    step = 'describeConfigs broker'
    const db = await a.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.BROKER, name: '1', configNames: ['num.partitions', 'auto.create.topics.enable'] }],
    })
    out.brokerConfigs = Object.fromEntries(db.resources[0].configEntries.map(e => [e.configName, e.configValue]))

    step = 'createPartitions'
    await a.createPartitions({ topicPartitions: [{ topic: t, count: 3 }] })
    out.partitionsAfter = (await a.fetchTopicMetadata({ topics: [t] })).topics[0].partitions.length

    step = 'produce for offsets'
    const producer = kafka.producer()
    await producer.connect()
    const tsBase = 1_690_000_000_000
    await producer.send({
      topic: t2,
      acks: -1,
      messages: Array.from({ length: 8 }, (_, i) => ({ partition: 0, value: `v${i}`, timestamp: String(tsBase + 1000 * i) })),
    })
    await producer.disconnect()

    step = 'fetchTopicOffsets'
    out.offsets = await a.fetchTopicOffsets(t2)
    step = 'fetchTopicOffsetsByTimestamp'
    out.offsetsByTs = await a.fetchTopicOffsetsByTimestamp(t2, tsBase + 2500)
    out.tsBase = tsBase

    step = 'deleteTopicRecords'
    await a.deleteTopicRecords({ topic: t2, partitions: [{ partition: 0, offset: '5' }] })
    out.offsetsAfterDelete = await a.fetchTopicOffsets(t2)

    step = 'deleteTopics'
    await a.deleteTopics({ topics: [t] })
    out.topicsAfterDelete = (await a.listTopics()).filter(x => x.startsWith(prefix)).sort()
  } finally {
    await a.disconnect()
  }
  return out
}

async function main() {
  const [cmd, ...args] = process.argv.slice(2)
  let result
  if (cmd === 'produce') {
    const [bootstrap, topic, codec, idem, count] = args
    result = await produce(bootstrap, topic, codec, idem === '1', parseInt(count, 10))
  } else if (cmd === 'admin') {
    result = await admin(args[0], args[1])
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
