'use strict'
// kafkajs 2.2.4 consumer-group driver for ../test_groups_kafkajs.py. Prints exactly one
// JSON document on stdout (the last line); failures are {"error": {...}, "step": "..."}
// with exit code 1.
//
//   node groups.js rebalance <bootstrap> <topic> <group> <count>
//     produce <count> records, consume them with member A, add member B (rebalance),
//     produce <count> more, consume until every record was seen, leave; then the admin
//     views of the group (fetchOffsets, describeGroups, listGroups).
//   node groups.js resume <bootstrap> <topic> <group> <expect>
//     one consumer in the group: read until <expect> records, then a little longer.
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

function client(bootstrap, clientId) {
  return new Kafka({
    clientId,
    brokers: [bootstrap],
    logLevel: logLevel.ERROR,
    connectionTimeout: 10000,
    requestTimeout: 30000,
    retry: { retries: 5, initialRetryTime: 200 },
  })
}

const sleep = ms => new Promise(r => setTimeout(r, ms))

async function waitFor(what, cond, ms) {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

async function produce(kafka, topic, start, count, partitions) {
  const p = kafka.producer()
  await p.connect()
  try {
    const messages = []
    for (let i = start; i < start + count; i++) messages.push({ partition: i % partitions, value: `js-${i}` })
    await p.send({ topic, acks: -1, messages })
  } finally {
    await p.disconnect()
  }
}

function member(kafka, name, topic, group, seen, joins) {
  const c = kafka.consumer({
    groupId: group,
    sessionTimeout: 6000,
    rebalanceTimeout: 10000,
    heartbeatInterval: 300,
    maxWaitTimeInMs: 200,
  })
  c.on(c.events.GROUP_JOIN, e => {
    joins.push({
      name,
      memberId: e.payload.memberId,
      leaderId: e.payload.leaderId,
      isLeader: e.payload.isLeader,
      protocol: e.payload.groupProtocol,
      assignment: e.payload.memberAssignment,
    })
  })
  const start = async () => {
    await c.connect()
    await c.subscribe({ topic, fromBeginning: true })
    await c.run({
      autoCommitThreshold: 1,
      eachMessage: async ({ partition, message }) => {
        const key = `${partition}:${message.offset}`
        ;(seen[key] = seen[key] || []).push(name)
      },
    })
  }
  return { c, start }
}

async function rebalance(bootstrap, topic, group, count) {
  const kafka = client(bootstrap, 'strait-kafkajs-groups')
  const admin = kafka.admin()
  await admin.connect()
  const meta = await admin.fetchTopicMetadata({ topics: [topic] })
  const partitions = meta.topics[0].partitions.length
  const seen = {}
  const joins = []
  step = 'produce 1'
  await produce(kafka, topic, 0, count, partitions)
  const a = member(kafka, 'a', topic, group, seen, joins)
  const b = member(kafka, 'b', topic, group, seen, joins)
  try {
    step = 'member a'
    await a.start()
    await waitFor('a consumes', () => Object.keys(seen).length >= Math.min(count, 10), 60000)
    step = 'member b'
    await b.start()
    const owns = n => {
      const last = joins.filter(j => j.name === n).pop()
      return last ? Object.values(last.assignment).reduce((s, ps) => s + ps.length, 0) : 0
    }
    await waitFor('both members own partitions', () => owns('a') > 0 && owns('b') > 0, 60000)
    step = 'produce 2'
    await produce(kafka, topic, count, count, partitions)
    step = 'consume all'
    await waitFor('every record', () => Object.keys(seen).length >= 2 * count, 60000)
  } finally {
    step = 'disconnect'
    await a.c.disconnect()
    await b.c.disconnect()
  }
  step = 'admin'
  const offsets = await admin.fetchOffsets({ groupId: group, topics: [topic] })
  const described = await admin.describeGroups([group])
  const listed = await admin.listGroups()
  await admin.disconnect()
  return { seen, joins, partitions, offsets, described, listed }
}

async function resume(bootstrap, topic, group, expect) {
  const kafka = client(bootstrap, 'strait-kafkajs-resume')
  const seen = {}
  const joins = []
  const m = member(kafka, 'r', topic, group, seen, joins)
  try {
    step = 'resume'
    await m.start()
    await waitFor('expected records', () => Object.keys(seen).length >= expect, 60000)
    await sleep(500) // anything re-delivered would show up now
  } finally {
    await m.c.disconnect()
  }
  return { seen, joins }
}

async function main() {
  const [cmd, ...args] = process.argv.slice(2)
  let result
  if (cmd === 'rebalance') {
    const [bootstrap, topic, group, count] = args
    result = await rebalance(bootstrap, topic, group, parseInt(count, 10))
  } else if (cmd === 'resume') {
    const [bootstrap, topic, group, expect] = args
    result = await resume(bootstrap, topic, group, parseInt(expect, 10))
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
