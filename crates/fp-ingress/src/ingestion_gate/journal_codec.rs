//! The binary encoding of one admission journal record (docs/decisions/0009).
//!
//! Layout, version 1:
//!
//! ```text
//! u8 version (= 1)
//! varint n_strings, then n_strings × (varint len, UTF-8 bytes)   -- string table
//! varint n_entries, then n_entries × entry
//! varint n_marks, then n_marks × (str topic, varint partition, varint next_offset)
//! entry := u8 tag, [u8; 32] dedupe_key, body by tag:
//!   FULL      u8 state, str run, str class, inline event_id, [u8; 32] payload_hash, str topic,
//!             [u8; 32] partition_key, u8 flags (1 eb_ref, 2 admitted_at, 4 receipt_id,
//!             8 receipt_ref), then the flagged fields in that order
//!   ADMITTED  eb_ref, str admitted_at, [u8; 16] receipt_id, receipt_ref
//!   AMBIGUOUS (nothing)
//!   RELEASED  (nothing)
//! str      := varint index into the string table
//! eb_ref   := str topic, varint partition, u8 offset_kind, offset, u8 has_published_at
//!             [, str published_at]
//! offset   := u8 0, varint n (the canonical decimal text of n) | u8 1, inline text
//! receipt_ref := u8 0, inline text | u8 1, str prefix (the text is `{prefix}#{receipt_id}`)
//! inline   := varint len, UTF-8 bytes
//! ```
//!
//! A mark says every embedded-bus record of that partition below `next_offset` is settled in
//! the journal (admitted, ambiguous, or not the gate's): recovery reads the bus from there
//! (docs/decisions/0009, "claims in memory").
//!
//! Why this shape: the JSON record of a batch of 1,000 was ~350 KB, so every commit spilled
//! into SQLite overflow pages and spent its time formatting and allocating. Keys and hashes
//! are raw bytes here, values shared by a whole batch (run, class, topic, timestamps, the
//! receipts object) are written once in the string table, and a state transition carries only
//! what changed. Decoding never panics: every malformed or unknown input is an error string
//! the caller turns into `IgError::Corrupt`.

use std::collections::HashMap;

use fp_rails::{EbRef, Hex32, Hex64, OffsetKind, TsUtc};

use super::index::{AdmissionRow, AdmissionState};

/// The current record version (first byte). A legacy JSON record starts with `[`.
pub(super) const VERSION: u8 = 1;

const TAG_FULL: u8 = 1;
const TAG_ADMITTED: u8 = 2;
const TAG_AMBIGUOUS: u8 = 3;
const TAG_RELEASED: u8 = 4;

const F_EB: u8 = 1;
const F_AT: u8 = 2;
const F_RID: u8 = 4;
const F_RREF: u8 = 8;

/// What an ADMITTED transition adds to the key's base row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct AdmittedDelta {
    pub eb_ref: EbRef,
    pub admitted_at_utc: Option<String>,
    pub receipt_id: Option<Hex32>,
    pub receipt_ref: Option<String>,
}

/// `(topic, partition) → next_offset`: bus records below it are settled in the journal.
pub(super) type Marks = HashMap<(String, u32), u64>;

/// One journal entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Entry {
    /// A whole row (claims, reconciled rows, legacy records): the key's new base.
    Full(Box<AdmissionRow>),
    /// The key's base row moved to ADMITTED with these coordinates.
    Admitted([u8; 32], Box<AdmittedDelta>),
    /// The key's base row moved to PUBLISH_AMBIGUOUS.
    Ambiguous([u8; 32]),
    /// The key is forgotten.
    Released([u8; 32]),
}

impl Entry {
    /// The key this entry is about.
    pub fn key(&self) -> [u8; 32] {
        match self {
            Self::Full(r) => key_bytes(&r.dedupe_key),
            Self::Admitted(k, _) | Self::Ambiguous(k) | Self::Released(k) => *k,
        }
    }
}

/// Raw bytes of a validated 64-hex-character id.
pub(super) fn key_bytes(h: &Hex64) -> [u8; 32] {
    let mut out = [0u8; 32];
    lower_hex_to(h.as_str().as_bytes(), &mut out);
    out
}

/// Decode validated lowercase hex (`Hex32`/`Hex64` text) into `out`. A plain loop: the
/// general decoder's error handling was a visible share of a batch's CPU (docs/perf.md), and
/// these ids are validated at construction, so any other byte cannot occur (it reads as 0).
fn lower_hex_to(hex: &[u8], out: &mut [u8]) {
    fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => 0,
        }
    }
    for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        *o = (nibble(pair[0]) << 4) | nibble(pair[1]);
    }
}

fn state_code(s: AdmissionState) -> u8 {
    match s {
        AdmissionState::PublishInFlight => 1,
        AdmissionState::Admitted => 2,
        AdmissionState::PublishAmbiguous => 3,
    }
}

fn state_of(c: u8) -> Option<AdmissionState> {
    match c {
        1 => Some(AdmissionState::PublishInFlight),
        2 => Some(AdmissionState::Admitted),
        3 => Some(AdmissionState::PublishAmbiguous),
        _ => None,
    }
}

fn kind_code(k: OffsetKind) -> u8 {
    match k {
        OffsetKind::FileLine => 1,
        OffsetKind::KinesisSequence => 2,
        OffsetKind::KafkaOffset => 3,
    }
}

fn kind_of(c: u8) -> Option<OffsetKind> {
    match c {
        1 => Some(OffsetKind::FileLine),
        2 => Some(OffsetKind::KinesisSequence),
        3 => Some(OffsetKind::KafkaOffset),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Encoding.

struct Writer<'a> {
    body: Vec<u8>,
    strings: Vec<&'a str>,
    index: HashMap<&'a str, u64>,
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_inline(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

impl<'a> Writer<'a> {
    fn str(&mut self, s: &'a str) {
        let next = self.strings.len() as u64;
        let i = *self.index.entry(s).or_insert_with(|| {
            self.strings.push(s);
            next
        });
        put_varint(&mut self.body, i);
    }

    fn raw(&mut self, b: &[u8]) {
        self.body.extend_from_slice(b);
    }

    fn hex(&mut self, h: &str, n: usize) {
        let mut buf = [0u8; 32];
        // Validated ids (Hex32/Hex64) only.
        lower_hex_to(h.as_bytes(), &mut buf[..n]);
        self.body.extend_from_slice(&buf[..n]);
    }

    fn eb_ref(&mut self, eb: &'a EbRef) {
        self.str(&eb.topic);
        put_varint(&mut self.body, u64::from(eb.partition));
        self.body.push(kind_code(eb.offset_kind));
        // Local logs and Kafka use decimal offsets: a varint when the text is canonical, so
        // decoding gives back exactly the same string.
        match eb.offset.parse::<u64>() {
            Ok(n) if n.to_string() == eb.offset => {
                self.body.push(0);
                put_varint(&mut self.body, n);
            }
            _ => {
                self.body.push(1);
                put_inline(&mut self.body, &eb.offset);
            }
        }
        match &eb.published_at_utc {
            Some(t) => {
                self.body.push(1);
                self.str(t.as_str());
            }
            None => self.body.push(0),
        }
    }

    fn receipt_ref(&mut self, rref: &'a str, rid: Option<&Hex32>) {
        // `{receipts object uri}#{receipt_id}`: the uri is shared by the batch.
        if let Some(rid) = rid
            && let Some(prefix) = rref.strip_suffix(rid.as_str())
            && let Some(prefix) = prefix.strip_suffix('#')
        {
            self.body.push(1);
            self.str(prefix);
        } else {
            self.body.push(0);
            put_inline(&mut self.body, rref);
        }
    }

    fn entry(&mut self, e: &'a Entry) {
        match e {
            Entry::Full(r) => {
                self.body.push(TAG_FULL);
                self.hex(r.dedupe_key.as_str(), 32);
                self.body.push(state_code(r.state));
                self.str(&r.platform_run_id);
                self.str(&r.event_class);
                put_inline(&mut self.body, &r.event_id);
                self.hex(r.payload_hash.as_str(), 32);
                self.str(&r.topic);
                self.hex(r.partition_key.as_str(), 32);
                let mut flags = 0;
                if r.eb_ref.is_some() {
                    flags |= F_EB;
                }
                if r.admitted_at_utc.is_some() {
                    flags |= F_AT;
                }
                if r.receipt_id.is_some() {
                    flags |= F_RID;
                }
                if r.receipt_ref.is_some() {
                    flags |= F_RREF;
                }
                self.body.push(flags);
                if let Some(eb) = &r.eb_ref {
                    self.eb_ref(eb);
                }
                if let Some(at) = &r.admitted_at_utc {
                    self.str(at);
                }
                if let Some(rid) = &r.receipt_id {
                    self.hex(rid.as_str(), 16);
                }
                if let Some(rref) = &r.receipt_ref {
                    self.receipt_ref(rref, r.receipt_id.as_ref());
                }
            }
            Entry::Admitted(k, d) => {
                self.body.push(TAG_ADMITTED);
                self.raw(k);
                self.eb_ref(&d.eb_ref);
                let mut flags = 0;
                if d.admitted_at_utc.is_some() {
                    flags |= F_AT;
                }
                if d.receipt_id.is_some() {
                    flags |= F_RID;
                }
                if d.receipt_ref.is_some() {
                    flags |= F_RREF;
                }
                self.body.push(flags);
                if let Some(at) = &d.admitted_at_utc {
                    self.str(at);
                }
                if let Some(rid) = &d.receipt_id {
                    self.hex(rid.as_str(), 16);
                }
                if let Some(rref) = &d.receipt_ref {
                    self.receipt_ref(rref, d.receipt_id.as_ref());
                }
            }
            Entry::Ambiguous(k) => {
                self.body.push(TAG_AMBIGUOUS);
                self.raw(k);
            }
            Entry::Released(k) => {
                self.body.push(TAG_RELEASED);
                self.raw(k);
            }
        }
    }
}

/// Encode entries (and marks) as one record.
pub(super) fn encode(entries: &[Entry], marks: &Marks) -> Vec<u8> {
    let mut w = Writer {
        body: Vec::with_capacity(entries.len() * 96),
        strings: Vec::new(),
        index: HashMap::new(),
    };
    for e in entries {
        w.entry(e);
    }
    let mut marks_body = Vec::new();
    put_varint(&mut marks_body, marks.len() as u64);
    let mut sorted: Vec<_> = marks.iter().collect();
    sorted.sort();
    for ((topic, partition), next) in sorted {
        std::mem::swap(&mut w.body, &mut marks_body);
        w.str(topic);
        std::mem::swap(&mut w.body, &mut marks_body);
        put_varint(&mut marks_body, u64::from(*partition));
        put_varint(&mut marks_body, *next);
    }
    let table: usize = w.strings.iter().map(|s| s.len() + 2).sum();
    let mut out = Vec::with_capacity(1 + 10 + table + 10 + w.body.len());
    out.push(VERSION);
    put_varint(&mut out, w.strings.len() as u64);
    for s in &w.strings {
        put_inline(&mut out, s);
    }
    put_varint(&mut out, entries.len() as u64);
    out.extend_from_slice(&w.body);
    out.extend_from_slice(&marks_body);
    out
}

// ---------------------------------------------------------------------------------------------
// Decoding.

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    strings: Vec<&'a str>,
}

type Res<T> = Result<T, String>;

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Res<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| format!("truncated at byte {}", self.pos))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Res<u8> {
        Ok(self.take(1)?[0])
    }

    fn varint(&mut self) -> Res<u64> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(format!("varint too long at byte {}", self.pos))
    }

    fn len(&mut self) -> Res<usize> {
        let n = self.varint()?;
        // A length can never exceed what is left; checking here keeps allocations bounded.
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.buf.len() - self.pos)
            .ok_or_else(|| format!("length {n} past the end at byte {}", self.pos))
    }

    fn inline(&mut self) -> Res<&'a str> {
        let n = self.len()?;
        let at = self.pos;
        std::str::from_utf8(self.take(n)?).map_err(|e| format!("text at byte {at}: {e}"))
    }

    fn str(&mut self) -> Res<&'a str> {
        let i = self.varint()?;
        usize::try_from(i)
            .ok()
            .and_then(|i| self.strings.get(i).copied())
            .ok_or_else(|| format!("string {i} not in the table"))
    }

    fn key(&mut self) -> Res<[u8; 32]> {
        let mut k = [0u8; 32];
        k.copy_from_slice(self.take(32)?);
        Ok(k)
    }

    fn hex64(&mut self) -> Res<Hex64> {
        Hex64::parse(hex::encode(self.take(32)?)).map_err(|e| e.to_string())
    }

    fn hex32(&mut self) -> Res<Hex32> {
        Hex32::parse(hex::encode(self.take(16)?)).map_err(|e| e.to_string())
    }

    fn eb_ref(&mut self) -> Res<EbRef> {
        let topic = self.str()?.to_owned();
        let partition = u32::try_from(self.varint()?).map_err(|_| "partition out of range")?;
        let kind = self.u8()?;
        let offset_kind = kind_of(kind).ok_or_else(|| format!("offset kind {kind}"))?;
        let offset = match self.u8()? {
            0 => self.varint()?.to_string(),
            1 => self.inline()?.to_owned(),
            m => return Err(format!("offset mode {m}")),
        };
        let published_at_utc = match self.u8()? {
            0 => None,
            1 => Some(TsUtc::parse(self.str()?).map_err(|e| e.to_string())?),
            m => return Err(format!("published_at flag {m}")),
        };
        Ok(EbRef {
            topic,
            partition,
            offset,
            offset_kind,
            published_at_utc,
        })
    }

    fn receipt_ref(&mut self, rid: Option<&Hex32>) -> Res<String> {
        match self.u8()? {
            0 => Ok(self.inline()?.to_owned()),
            1 => {
                let rid = rid.ok_or("receipt_ref names a receipt_id the entry lacks")?;
                Ok(format!("{}#{}", self.str()?, rid))
            }
            m => Err(format!("receipt_ref mode {m}")),
        }
    }

    fn tail(&mut self, flags: u8) -> Res<(Option<String>, Option<Hex32>, Option<String>)> {
        let at = if flags & F_AT != 0 {
            Some(self.str()?.to_owned())
        } else {
            None
        };
        let rid = if flags & F_RID != 0 {
            Some(self.hex32()?)
        } else {
            None
        };
        let rref = if flags & F_RREF != 0 {
            Some(self.receipt_ref(rid.as_ref())?)
        } else {
            None
        };
        Ok((at, rid, rref))
    }

    fn entry(&mut self) -> Res<Entry> {
        let tag = self.u8()?;
        match tag {
            TAG_FULL => {
                let dedupe_key = self.hex64()?;
                let s = self.u8()?;
                let state = state_of(s).ok_or_else(|| format!("state {s}"))?;
                let platform_run_id = self.str()?.to_owned();
                let event_class = self.str()?.to_owned();
                let event_id = self.inline()?.to_owned();
                let payload_hash = self.hex64()?;
                let topic = self.str()?.to_owned();
                let partition_key = self.hex64()?;
                let flags = self.u8()?;
                if flags & !(F_EB | F_AT | F_RID | F_RREF) != 0 {
                    return Err(format!("flags {flags:#x}"));
                }
                let eb_ref = if flags & F_EB != 0 {
                    Some(self.eb_ref()?)
                } else {
                    None
                };
                let (admitted_at_utc, receipt_id, receipt_ref) = self.tail(flags)?;
                Ok(Entry::Full(Box::new(AdmissionRow {
                    dedupe_key,
                    state,
                    platform_run_id,
                    event_class,
                    event_id,
                    payload_hash,
                    topic,
                    partition_key,
                    eb_ref,
                    admitted_at_utc,
                    receipt_id,
                    receipt_ref,
                    receipt: None,
                })))
            }
            TAG_ADMITTED => {
                let key = self.key()?;
                let eb_ref = self.eb_ref()?;
                let flags = self.u8()?;
                if flags & !(F_AT | F_RID | F_RREF) != 0 {
                    return Err(format!("flags {flags:#x}"));
                }
                let (admitted_at_utc, receipt_id, receipt_ref) = self.tail(flags)?;
                Ok(Entry::Admitted(
                    key,
                    Box::new(AdmittedDelta {
                        eb_ref,
                        admitted_at_utc,
                        receipt_id,
                        receipt_ref,
                    }),
                ))
            }
            TAG_AMBIGUOUS => Ok(Entry::Ambiguous(self.key()?)),
            TAG_RELEASED => Ok(Entry::Released(self.key()?)),
            t => Err(format!("entry tag {t} at byte {}", self.pos - 1)),
        }
    }
}

/// Decode a version-1 record.
pub(super) fn decode(buf: &[u8]) -> Result<(Vec<Entry>, Marks), String> {
    let mut r = Reader {
        buf,
        pos: 0,
        strings: Vec::new(),
    };
    let v = r.u8()?;
    if v != VERSION {
        return Err(format!("unknown record version {v}"));
    }
    let n = r.len()?;
    let mut strings = Vec::with_capacity(n);
    for _ in 0..n {
        strings.push(r.inline()?);
    }
    r.strings = strings;
    // Each entry is at least 33 bytes: `len` bounds the count by what is left.
    let n = r.len()?;
    let mut entries = Vec::with_capacity(n);
    for _ in 0..n {
        entries.push(r.entry()?);
    }
    let n = r.len()?;
    let mut marks = Marks::with_capacity(n);
    for _ in 0..n {
        let topic = r.str()?.to_owned();
        let partition = u32::try_from(r.varint()?).map_err(|_| "partition out of range")?;
        marks.insert((topic, partition), r.varint()?);
    }
    if r.pos != buf.len() {
        return Err(format!("{} trailing bytes", buf.len() - r.pos));
    }
    Ok((entries, marks))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(n: u8, state: AdmissionState) -> AdmissionRow {
        let h = |b: u8| Hex64::parse(format!("{b:02x}").repeat(32)).unwrap();
        AdmissionRow {
            dedupe_key: h(n),
            state,
            platform_run_id: "platform_20261129T000000Z".into(),
            event_class: "traffic".into(),
            event_id: format!("evt-{n}"),
            payload_hash: h(n.wrapping_add(1)),
            topic: "fp.traffic".into(),
            partition_key: h(n.wrapping_add(2)),
            eb_ref: None,
            admitted_at_utc: None,
            receipt_id: None,
            receipt_ref: None,
            receipt: None,
        }
    }

    fn eb(offset: &str) -> EbRef {
        EbRef {
            topic: "fp.traffic".into(),
            partition: 3,
            offset: offset.into(),
            offset_kind: OffsetKind::FileLine,
            published_at_utc: TsUtc::parse("2026-11-29T05:20:00.000001Z").ok(),
        }
    }

    fn samples() -> Vec<Entry> {
        let rid = Hex32::parse("0123456789abcdef0123456789abcdef").ok();
        let mut admitted = row(7, AdmissionState::Admitted);
        admitted.eb_ref = Some(eb("007"));
        admitted.admitted_at_utc = Some("2026-11-29T05:20:00.000002Z".into());
        admitted.receipt_id = rid.clone();
        admitted.receipt_ref = Some("reconciled:0123456789abcdef0123456789abcdef".into());
        vec![
            Entry::Full(Box::new(row(1, AdmissionState::PublishInFlight))),
            Entry::Full(Box::new(admitted)),
            Entry::Admitted(
                [1; 32],
                Box::new(AdmittedDelta {
                    eb_ref: eb("18446744073709551615"),
                    admitted_at_utc: Some("2026-11-29T05:20:00.000002Z".into()),
                    receipt_id: rid,
                    receipt_ref: Some(
                        "file:///x/receipts/0.jsonl#0123456789abcdef0123456789abcdef".into(),
                    ),
                }),
            ),
            Entry::Ambiguous([2; 32]),
            Entry::Released([3; 32]),
        ]
    }

    fn marks() -> Marks {
        Marks::from([
            (("fp.traffic".to_owned(), 3), 19),
            (("fp.other".to_owned(), 0), 0),
        ])
    }

    #[test]
    fn key_bytes_match_the_hex_crate() {
        let h = Hex64::parse("0123456789abcdef".repeat(4)).unwrap();
        assert_eq!(key_bytes(&h).to_vec(), hex::decode(h.as_str()).unwrap());
    }

    #[test]
    fn round_trips() {
        let entries = samples();
        assert_eq!(decode(&encode(&entries, &marks())), Ok((entries, marks())));
        assert_eq!(
            decode(&encode(&[], &Marks::new())),
            Ok((Vec::new(), Marks::new()))
        );
    }

    #[test]
    fn every_truncation_and_bit_flip_is_an_error_or_a_value_never_a_panic() {
        let bytes = encode(&samples(), &marks());
        for n in 0..bytes.len() {
            assert!(decode(&bytes[..n]).is_err(), "prefix {n} decoded");
        }
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[i] ^= 1 << bit;
                let _ = decode(&b);
            }
        }
    }

    #[test]
    fn unknown_version_is_refused() {
        let mut bytes = encode(&samples(), &Marks::new());
        bytes[0] = 9;
        assert!(decode(&bytes).unwrap_err().contains("version 9"));
    }
}
