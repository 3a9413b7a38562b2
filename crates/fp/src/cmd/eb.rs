//! `fp eb`: look at the Event Bus (topics, partitions, records) and copy it out.

use std::io::Write;

use anyhow::{Context, bail};
use fp_bus::{BusRecord, EventBus, ReadFrom, topics};
use serde_json::{Value, json};

use crate::cli::{EbCommand, GlobalArgs, TailArgs};
use crate::wiring::{self, BusRole};

/// Records fetched per read call.
const PAGE: usize = 1_000;

pub fn run(global: &GlobalArgs, cmd: EbCommand) -> anyhow::Result<()> {
    let profile = wiring::load_profile(global)?;
    let role = match &cmd {
        EbCommand::Topics { control }
        | EbCommand::Provision { control }
        | EbCommand::Describe { control, .. } => role(*control),
        EbCommand::Tail(args) | EbCommand::Replay { tail: args, .. } => role(args.control),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let open = wiring::open_bus(&profile, role).await?;
        let bus = open.bus.as_ref();
        match cmd {
            EbCommand::Provision { .. } => {
                let specs = topics::taxonomy(open.counts);
                bus.provision(&specs).await?;
                for s in specs {
                    println!("{:<42} {} partitions", s.name, s.partitions);
                }
                Ok(())
            }
            EbCommand::Topics { .. } => {
                let specs = bus.topics().await?;
                if specs.is_empty() {
                    eprintln!("no topics yet (run `fp eb provision`)");
                }
                for s in specs {
                    println!("{:<42} {} partitions", s.name, s.partitions);
                }
                Ok(())
            }
            EbCommand::Describe { topic, .. } => {
                let parts = bus.partitions(&topic).await?;
                println!(
                    "{topic} ({} backend, offsets {})",
                    bus.backend_name(),
                    bus.offset_kind()
                );
                println!("{:>9} {:>14} {:>14}", "partition", "start", "end");
                for p in parts {
                    println!(
                        "{:>9} {:>14} {:>14}",
                        p.partition, p.start_offset, p.end_offset
                    );
                }
                Ok(())
            }
            EbCommand::Tail(args) => {
                let stdout = std::io::stdout();
                let mut out = stdout.lock();
                copy(bus, &args, &mut out).await.map(|_| ())
            }
            EbCommand::Replay { tail, out } => {
                let file = std::fs::File::create(&out)
                    .with_context(|| format!("cannot create {}", out.display()))?;
                let mut w = std::io::BufWriter::new(file);
                let n = copy(bus, &tail, &mut w).await?;
                w.flush()
                    .with_context(|| format!("cannot write {}", out.display()))?;
                eprintln!(
                    "replayed {n} records of {} into {}",
                    tail.topic,
                    out.display()
                );
                Ok(())
            }
        }
    })
}

fn role(control: bool) -> BusRole {
    if control {
        BusRole::Control
    } else {
        BusRole::Event
    }
}

/// Write the selected records as JSON lines: `{topic, partition, offset, published_at_utc,
/// value}`; `value` is the record's JSON (envelopes) or, if the bytes are not JSON, a string.
async fn copy(bus: &dyn EventBus, args: &TailArgs, out: &mut impl Write) -> anyhow::Result<u64> {
    let partitions: Vec<u32> = match args.partition {
        Some(p) => vec![p],
        None => bus
            .partitions(&args.topic)
            .await?
            .iter()
            .map(|p| p.partition)
            .collect(),
    };
    if args.from.is_some() && partitions.len() > 1 {
        bail!("--from is a position within one partition: add --partition P");
    }
    let mut written = 0u64;
    for partition in partitions {
        let mut from = match &args.from {
            Some(offset) => ReadFrom::Checkpoint(offset.clone()),
            None => ReadFrom::Earliest,
        };
        loop {
            let want = args
                .limit
                .map_or(PAGE, |l| PAGE.min((l - written.min(l)) as usize));
            if want == 0 {
                return Ok(written);
            }
            let batch = bus.read(&args.topic, partition, &from, want).await?;
            if batch.records.is_empty() {
                break;
            }
            for record in &batch.records {
                writeln!(out, "{}", line(&args.topic, partition, record))
                    .context("cannot write output")?;
                written += 1;
            }
            from = batch.next;
        }
    }
    Ok(written)
}

fn line(topic: &str, partition: u32, record: &BusRecord) -> Value {
    let value = serde_json::from_slice::<Value>(&record.value)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&record.value).into_owned()));
    json!({
        "topic": topic,
        "partition": partition,
        "offset": record.offset,
        "published_at_utc": record.published_at_utc,
        "value": value,
    })
}
