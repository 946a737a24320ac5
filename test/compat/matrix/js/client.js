// The client-matrix scenario for kafkajs. Usage: node client.js BOOTSTRAP TOPIC GROUP RF
// Modules come from NODE_PATH (setup.sh installs them under ~/.cache/strom-compat/js).
// The scenario and record shapes are specified in ../README.md.
'use strict';
const { Kafka, CompressionTypes, CompressionCodecs, logLevel } = require('kafkajs');
const SnappyCodec = require('kafkajs-snappy');
const LZ4Codec = require('kafkajs-lz4');
const zstd = require('@bokuweb/zstd-wasm');

const CODECS = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];
const TYPES = {
  none: CompressionTypes.None, gzip: CompressionTypes.GZIP, snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4, zstd: CompressionTypes.ZSTD,
};
const PER_CODEC = 50;
const RESUME = 10;
const PARTITIONS = 3;
const STEP_TIMEOUT_MS = 60000;

function make(label, i) {
  const value = Buffer.concat([
    Buffer.from(`value-${label}-${i}-`), Buffer.from([0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff]), Buffer.alloc(64, 'x'),
  ]);
  return {
    key: Buffer.from(`key-${label}-${i}`),
    value,
    headers: [['trace', Buffer.from(`h-${label}-${i}`)], ['bin', Buffer.concat([Buffer.from([0x01, 0x80, 0xff]), Buffer.from(label)])]],
  };
}
const group = (label, n) => Array.from({ length: n }, (_, i) => make(label, i));

class Checker {
  constructor(recs) { this.want = new Map(recs.map((r) => [r.key.toString('latin1'), r])); this.seen = new Set(); }
  add(got, where) {
    const k = got.key.toString('latin1');
    const w = this.want.get(k);
    if (!w) throw new Error(`unexpected record key ${k} at ${where}`);
    if (this.seen.has(k)) throw new Error(`duplicate record ${k} at ${where}`);
    if (!w.value.equals(got.value)) throw new Error(`record ${k}: value ${JSON.stringify(got.value.toString('latin1'))} differs`);
    if (w.headers.length !== got.headers.length) throw new Error(`record ${k}: ${got.headers.length} headers, want ${w.headers.length}`);
    w.headers.forEach(([hk, hv], i) => {
      const [gk, gv] = got.headers[i];
      if (gk !== hk || !Buffer.from(gv).equals(hv)) throw new Error(`record ${k}: header ${i} is ${gk}=${JSON.stringify(String(gv))}`);
    });
    this.seen.add(k);
  }
  done() { return this.seen.size === this.want.size; }
  progress() { return `${this.seen.size} of ${this.want.size} records`; }
}

let failed = false;
async function step(name, f, always = false) {
  if (failed && !always) return false;
  let timer;
  try {
    const timeout = new Promise((_, rej) => { timer = setTimeout(() => rej(new Error('step timed out')), STEP_TIMEOUT_MS); });
    const detail = await Promise.race([f(), timeout]);
    console.log(`STEP ${name} PASS ${detail}`);
    return true;
  } catch (e) {
    failed = true;
    console.log(`STEP ${name} FAIL ${String(e && e.stack ? e.message : e).replace(/\s+/g, ' ')}`);
    return false;
  } finally {
    clearTimeout(timer);
  }
}

async function poll(f) {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  let last = '';
  for (;;) {
    const problem = await f();
    if (!problem) return;
    last = problem;
    if (Date.now() > deadline) throw new Error(`timed out: ${last}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function main() {
  const [bootstrap, topic, groupId, rfArg] = process.argv.slice(2);
  if (!rfArg) { console.error('usage: client.js BOOTSTRAP TOPIC GROUP RF'); process.exit(2); }
  await zstd.init();
  CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec;
  CompressionCodecs[CompressionTypes.LZ4] = new LZ4Codec().codec;
  CompressionCodecs[CompressionTypes.ZSTD] = () => ({
    compress: async (encoder) => Buffer.from(zstd.compress(encoder.buffer, 3)),
    decompress: async (buffer) => Buffer.from(zstd.decompress(buffer)),
  });
  const kafka = new Kafka({ clientId: 'strom-compat-kafkajs', brokers: bootstrap.split(','), logLevel: logLevel.ERROR });
  const admin = kafka.admin();
  await admin.connect();

  const produce = async (codec, label, n) => {
    const producer = kafka.producer();
    await producer.connect();
    try {
      await producer.send({
        topic, acks: -1, compression: TYPES[codec],
        messages: group(label, n).map((r) => ({ key: r.key, value: r.value, headers: Object.fromEntries(r.headers) })),
      });
    } finally { await producer.disconnect(); }
    return `${n} records acknowledged`;
  };

  // consume subscribes a new group member and resolves once the checker saw
  // every record, leaving the consumer running (the caller disconnects it).
  const consume = async (checker) => {
    const consumer = kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 1000 });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    const positions = {};
    let settle;
    const finished = new Promise((res, rej) => { settle = { res, rej }; });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        try {
          checker.add({ key: message.key, value: message.value, headers: Object.entries(message.headers || {}) },
            `partition ${partition} offset ${message.offset}`);
          positions[partition] = BigInt(message.offset) + 1n;
          if (checker.done()) settle.res();
        } catch (e) { settle.rej(e); }
      },
    });
    try { await finished; } catch (e) { await consumer.disconnect(); throw e; }
    return { consumer, positions };
  };

  const created = await step('create_topic', async () => {
    const ok = await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: Number(rfArg) }], waitForLeaders: true });
    if (!ok) throw new Error('createTopics returned false (topic exists?)');
    await poll(async () => {
      const md = await admin.fetchTopicMetadata({ topics: [topic] });
      const ps = md.topics[0].partitions;
      if (ps.length !== PARTITIONS) return `${ps.length} partitions`;
      if (ps.some((p) => p.leader < 0)) return 'a partition has no leader';
      return '';
    });
    return `${PARTITIONS} partitions with leaders`;
  });
  if (created) {
    const want = [];
    for (const codec of CODECS) {
      if (!await step(`produce_${codec}`, () => produce(codec, codec, PER_CODEC))) break;
      want.push(...group(codec, PER_CODEC));
    }
    let member;
    await step('consume_group', async () => {
      const checker = new Checker(want);
      member = await consume(checker);
      return `${checker.progress()} byte-exact`;
    });
    await step('commit', async () => {
      await member.consumer.commitOffsets(Object.entries(member.positions).map(([p, o]) => ({ topic, partition: Number(p), offset: o.toString() })));
      const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
      const ends = await admin.fetchTopicOffsets(topic);
      let sum = 0n;
      for (const e of ends) {
        const c = committed.partitions.find((p) => p.partition === e.partition);
        if (!c || c.offset !== e.high) throw new Error(`partition ${e.partition}: committed ${c && c.offset}, high watermark ${e.high}`);
        sum += BigInt(e.high);
      }
      return `committed offsets equal high watermarks (sum ${sum})`;
    });
    if (member) await member.consumer.disconnect();
    await step('resume', async () => {
      await produce('none', 'resume', RESUME);
      const m = await consume(new Checker(group('resume', RESUME)));
      await m.consumer.disconnect();
      return `restarted consumer got exactly the ${RESUME} new records`;
    });
  }
  await step('delete_topic', async () => {
    if (!created) return 'nothing created';
    await admin.deleteTopics({ topics: [topic] });
    await poll(async () => ((await admin.listTopics()).includes(topic) ? 'topic still listed' : ''));
    return 'topic gone from metadata';
  }, true);
  await admin.disconnect();
  process.exit(failed ? 1 : 0);
}

main().catch((e) => { console.error(e); process.exit(1); });
