//! The client-matrix scenario for the Rust `rdkafka` crate (librdkafka
//! underneath). Usage: strom-compat-rdkafka BOOTSTRAP TOPIC GROUP RF
//! The scenario and record shapes are specified in test/compat/matrix/README.md;
//! each step prints one `STEP <name> PASS|FAIL|NA <detail>` line.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::future::join_all;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use rdkafka::Offset;

const CODECS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];
const PER_CODEC: usize = 50;
const RESUME: usize = 10;
const PARTITIONS: i32 = 3;
const STEP_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, PartialEq, Debug)]
struct Rec {
    key: Vec<u8>,
    value: Vec<u8>,
    headers: Vec<(String, Vec<u8>)>,
}

fn make(codec: &str, i: usize) -> Rec {
    let mut value = format!("value-{codec}-{i}-").into_bytes();
    value.extend_from_slice(&[0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff]);
    value.extend_from_slice(&[b'x'; 64]);
    let mut bin = vec![0x01, 0x80, 0xff];
    bin.extend_from_slice(codec.as_bytes());
    Rec {
        key: format!("key-{codec}-{i}").into_bytes(),
        value,
        headers: vec![
            ("trace".to_string(), format!("h-{codec}-{i}").into_bytes()),
            ("bin".to_string(), bin),
        ],
    }
}

fn step(name: &str, res: Result<String, String>) -> bool {
    match res {
        Ok(detail) => {
            println!("STEP {name} PASS {detail}");
            true
        }
        Err(detail) => {
            println!("STEP {name} FAIL {}", detail.replace('\n', " "));
            false
        }
    }
}

fn base_config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap);
    c
}

fn consumer(bootstrap: &str, group: &str) -> Result<BaseConsumer, String> {
    base_config(bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .map_err(|e| format!("create consumer: {e}"))
}

fn to_rec<M: Message>(m: &M) -> Rec {
    let mut headers = Vec::new();
    if let Some(hs) = m.headers() {
        for h in hs.iter() {
            headers.push((h.key.to_string(), h.value.unwrap_or(&[]).to_vec()));
        }
    }
    Rec {
        key: m.key().unwrap_or(&[]).to_vec(),
        value: m.payload().unwrap_or(&[]).to_vec(),
        headers,
    }
}

/// Polls until every expected record arrived; fails on a mismatch, an unknown
/// key or a duplicate.
fn consume_all(c: &BaseConsumer, want: &HashMap<Vec<u8>, Rec>) -> Result<String, String> {
    let mut seen: HashMap<Vec<u8>, ()> = HashMap::new();
    let deadline = Instant::now() + STEP_TIMEOUT;
    while seen.len() < want.len() {
        if Instant::now() > deadline {
            return Err(format!("timed out with {} of {} records", seen.len(), want.len()));
        }
        match c.poll(Duration::from_millis(500)) {
            None => continue,
            Some(Err(e)) => return Err(format!("poll: {e}")),
            Some(Ok(m)) => {
                let got = to_rec(&m);
                match want.get(&got.key) {
                    None => return Err(format!("unexpected record key {:?} at partition {} offset {}",
                        String::from_utf8_lossy(&got.key), m.partition(), m.offset())),
                    Some(w) if *w != got => return Err(format!("record {:?} differs: got {:?}",
                        String::from_utf8_lossy(&got.key), got)),
                    Some(_) => {}
                }
                if seen.insert(got.key.clone(), ()).is_some() {
                    return Err(format!("duplicate record {:?}", String::from_utf8_lossy(&got.key)));
                }
            }
        }
    }
    Ok(format!("{} records byte-exact", seen.len()))
}

async fn produce(bootstrap: &str, topic: &str, codec: &str, label: &str, n: usize) -> Result<String, String> {
    let p: FutureProducer = base_config(bootstrap)
        .set("compression.type", codec)
        .set("linger.ms", "20")
        .set("acks", "all")
        .create()
        .map_err(|e| format!("create producer: {e}"))?;
    let recs: Vec<Rec> = (0..n).map(|i| make(label, i)).collect();
    let futs = recs.iter().map(|r| {
        let mut hs = OwnedHeaders::new();
        for (k, v) in &r.headers {
            hs = hs.insert(Header { key: k, value: Some(v) });
        }
        p.send(FutureRecord::to(topic).key(&r.key).payload(&r.value).headers(hs), Timeout::After(STEP_TIMEOUT))
    });
    for res in join_all(futs).await {
        if let Err((e, _)) = res {
            return Err(format!("delivery: {e}"));
        }
    }
    Ok(format!("{n} records acknowledged"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        eprintln!("usage: {} BOOTSTRAP TOPIC GROUP RF", args[0]);
        std::process::exit(2);
    }
    let (bootstrap, topic, group) = (&args[1], &args[2], &args[3]);
    let rf: i32 = args[4].parse().expect("RF");
    let admin: AdminClient<DefaultClientContext> = base_config(bootstrap).create().expect("admin client");
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let ok = run(bootstrap, topic, group, rf, &admin, &opts).await;

    let deleted = step("delete_topic", async {
        match admin.delete_topics(&[topic.as_str()], &opts).await {
            Err(e) => return Err(format!("delete topics: {e}")),
            Ok(rs) => {
                for r in rs {
                    if let Err((t, code)) = r {
                        return Err(format!("delete {t}: {code:?}"));
                    }
                }
            }
        }
        let probe = consumer(bootstrap, group)?;
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let md = probe.fetch_metadata(None, Duration::from_secs(10)).map_err(|e| format!("metadata: {e}"))?;
            if !md.topics().iter().any(|t| t.name() == topic) {
                return Ok("topic gone from metadata".to_string());
            }
            if Instant::now() > deadline {
                return Err("topic still listed in metadata".to_string());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }.await);
    std::process::exit(if ok && deleted { 0 } else { 1 });
}

async fn run(bootstrap: &str, topic: &str, group: &str, rf: i32,
             admin: &AdminClient<DefaultClientContext>, opts: &AdminOptions) -> bool {
    let created = step("create_topic", async {
        let rs = admin.create_topics(&[NewTopic::new(topic, PARTITIONS, TopicReplication::Fixed(rf))], opts)
            .await.map_err(|e| format!("create topics: {e}"))?;
        for r in rs {
            if let Err((t, code)) = r {
                return Err(format!("create {t}: {code:?}"));
            }
        }
        let probe = consumer(bootstrap, group)?;
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let md = probe.fetch_metadata(Some(topic), Duration::from_secs(10)).map_err(|e| format!("metadata: {e}"))?;
            if let Some(t) = md.topics().iter().find(|t| t.name() == topic) {
                if t.error().is_none() && t.partitions().len() == PARTITIONS as usize
                    && t.partitions().iter().all(|p| p.leader() >= 0) {
                    return Ok(format!("{PARTITIONS} partitions with leaders"));
                }
            }
            if Instant::now() > deadline {
                return Err("topic not in metadata with 3 led partitions".to_string());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }.await);
    if !created {
        return false;
    }
    let mut want = HashMap::new();
    for codec in CODECS {
        if !step(&format!("produce_{codec}"), produce(bootstrap, topic, codec, codec, PER_CODEC).await) {
            return false;
        }
        for i in 0..PER_CODEC {
            let r = make(codec, i);
            want.insert(r.key.clone(), r);
        }
    }
    let c = match consumer(bootstrap, group) {
        Ok(c) => c,
        Err(e) => return step("consume_group", Err(e)),
    };
    if let Err(e) = c.subscribe(&[topic]) {
        return step("consume_group", Err(format!("subscribe: {e}")));
    }
    if !step("consume_group", consume_all(&c, &want)) {
        return false;
    }
    let committed = step("commit", (|| {
        c.commit_consumer_state(CommitMode::Sync).map_err(|e| format!("commit: {e}"))?;
        let tpl = c.committed(Duration::from_secs(30)).map_err(|e| format!("committed: {e}"))?;
        let mut total = 0;
        for p in 0..PARTITIONS {
            let (_, high) = c.fetch_watermarks(topic, p, Duration::from_secs(10))
                .map_err(|e| format!("watermarks: {e}"))?;
            let got = tpl.find_partition(topic, p).map(|e| e.offset());
            if got != Some(Offset::Offset(high)) {
                return Err(format!("partition {p}: committed {got:?}, high watermark {high}"));
            }
            total += high;
        }
        Ok(format!("committed offsets equal high watermarks (sum {total})"))
    })());
    drop(c); // closes the consumer and leaves the group
    if !committed {
        return false;
    }
    step("resume", async {
        produce(bootstrap, topic, "none", "resume", RESUME).await.map_err(|e| format!("produce: {e}"))?;
        let want: HashMap<Vec<u8>, Rec> = (0..RESUME).map(|i| { let r = make("resume", i); (r.key.clone(), r) }).collect();
        let c = consumer(bootstrap, group)?;
        c.subscribe(&[topic]).map_err(|e| format!("subscribe: {e}"))?;
        consume_all(&c, &want).map(|_| format!("restarted consumer got exactly the {RESUME} new records"))
    }.await)
}
