//! The golden vectors of `protocol/vectors/<version>/` (SPEC §9), rebuilt with the daemon's own code: the
//! control view initializing a real segment, slot headers written and read through the view, buffer
//! references through `BufRef`, request payloads decoded by `ArgReader` and responses produced by the
//! built-in functions through `RetWriter`. Each vector is also rebuilt from its JSON fields by a small
//! encoder here, so a vector whose bytes and fields disagree fails too.

use std::cell::RefCell;
use std::path::PathBuf;

use serde_json::Value;
use shmcall::codec::{ArgReader, Failure, RetWriter, Scratch};
use shmcall::kernels;
use shmcall::kernels::article::Person;
use shmcall::layout::constants::{self as c, off};
use shmcall::layout::{BufRef, ControlConfig, ControlView};
use shmcall::registry::{Function, Wire};
use shmcall::sys::Segment;
use shmcall::Registry;

use crate::support::{heap, read_segment, write_segment};

struct Vector {
    name: String,
    kind: String,
    fields: Value,
    bytes: Vec<u8>,
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("protocol/vectors/{}", c::PROTOCOL_VERSION))
}

fn load() -> Vec<Vector> {
    let path = dir().join("vectors.json");
    let listing: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
            .expect("vectors.json parses");
    assert_eq!(listing["format_version"].as_u64(), Some(c::PROTOCOL_VERSION as u64));
    listing["vectors"]
        .as_array()
        .expect("a vectors array")
        .iter()
        .map(|v| {
            let file = v["file"].as_str().unwrap();
            let bytes = std::fs::read(dir().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(Some(bytes.len() as u64), v["size"].as_u64(), "{file}: size in vectors.json");
            Vector {
                name: v["name"].as_str().unwrap().to_owned(),
                kind: v["kind"].as_str().unwrap().to_owned(),
                fields: v["fields"].clone(),
                bytes,
            }
        })
        .collect()
}

fn vector(name: &str) -> Vector {
    load().into_iter().find(|v| v.name == name).unwrap_or_else(|| panic!("no vector {name}"))
}

fn vectors_of(kind: &str) -> Vec<Vector> {
    let v: Vec<Vector> = load().into_iter().filter(|v| v.kind == kind).collect();
    assert!(!v.is_empty(), "no {kind} vectors");
    v
}

fn u64_of(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a u64: {v}"))
}

fn u32_of(v: &Value) -> u32 {
    u32::try_from(u64_of(v)).unwrap()
}

fn hex_of(v: &Value) -> u64 {
    u64::from_str_radix(v.as_str().unwrap_or_else(|| panic!("not a hex string: {v}")), 16).unwrap()
}

fn buf_bytes(b: BufRef) -> [u8; c::BUF_SIZE] {
    let mut out = [0u8; c::BUF_SIZE];
    b.encode(&mut out);
    out
}

/// Rebuilds a payload area from the vector's `payload` pieces (SPEC §4.1); uncovered bytes are zero.
fn payload_from_pieces(pieces: &Value, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    for p in pieces.as_array().unwrap() {
        let at = u64_of(&p["at"]) as usize;
        let data: Vec<u8> = match p["kind"].as_str().unwrap() {
            "buf" => buf_bytes(BufRef {
                segment: u32_of(&p["segment"]),
                offset: u64_of(&p["offset"]),
                length: u64_of(&p["length"]),
            })
            .to_vec(),
            "utf8" => p["value"].as_str().unwrap().as_bytes().to_vec(),
            "i64" => p["value"].as_i64().unwrap().to_le_bytes().to_vec(),
            "u64" => u64_of(&p["value"]).to_le_bytes().to_vec(),
            "u8" => vec![u8::try_from(u64_of(&p["value"])).unwrap()],
            "f64" => p["value"].as_f64().unwrap().to_le_bytes().to_vec(),
            other => panic!("piece kind {other} not handled here"),
        };
        out[at..at + data.len()].copy_from_slice(&data);
    }
    out
}

/// A control segment of the default configuration, initialized by the daemon's code.
struct Control {
    view: ControlView,
    segment: Segment,
    config: ControlConfig,
}

impl Control {
    fn new(channel_id: u32) -> Control {
        let config = ControlConfig::default();
        let segment = Segment::create("shmcall-vectors", config.segment_size(), true).expect("memfd segment");
        // SAFETY:
        // - the mapping is page-aligned and exactly config.segment_size() bytes long;
        // - the view is dropped with `Control`, before the segment it points into (field order);
        // - the default configuration is valid (checked by tests/layout.rs).
        let view = unsafe { ControlView::new(segment.as_ptr(), config) };
        view.initialize(channel_id);
        Control { view, segment, config }
    }

    fn read(&self, at: usize, len: usize) -> Vec<u8> {
        read_segment(&self.segment, at, len)
    }

    fn write(&self, at: usize, bytes: &[u8]) {
        write_segment(&self.segment, at, bytes)
    }

    fn slot_base(&self, slot: u32) -> usize {
        self.config.slots_offset() + slot as usize * self.config.slot_size()
    }

    fn response_header_at(&self, slot: u32) -> usize {
        self.slot_base(slot) + c::REQUEST_HEADER_SIZE + self.config.request_capacity as usize
    }
}

fn function<'r>(registry: &'r Registry, name: &str) -> &'r Function {
    registry.get(registry.id(name).unwrap_or_else(|| panic!("no built-in {name}"))).unwrap()
}

/// The argument record plus inline tail for a call, encoded the way SPEC §4.1 says a client does.
fn encode_call(registry: &Registry, name: &str, args: &Value) -> Vec<u8> {
    let f = function(registry, name);
    let fixed = f.args.fixed_size;
    let mut out = vec![0u8; fixed.next_multiple_of(c::TAIL_ALIGN)];
    let inline = |out: &mut Vec<u8>, at: usize, data: &[u8]| {
        let start = out.len().next_multiple_of(c::TAIL_ALIGN);
        out.resize(start, 0);
        out.extend_from_slice(data);
        out[at..at + c::BUF_SIZE].copy_from_slice(&buf_bytes(BufRef {
            segment: 0,
            offset: start as u64,
            length: data.len() as u64,
        }));
    };
    match name {
        "add" => {
            out[f.args.offsets[0]..][..8].copy_from_slice(&args["a"].as_i64().unwrap().to_le_bytes());
            out[f.args.offsets[1]..][..8].copy_from_slice(&args["b"].as_i64().unwrap().to_le_bytes());
        }
        "hello" => inline(&mut out, f.args.offsets[0], args["name"].as_str().unwrap().as_bytes()),
        "hello_person" => {
            let d = Person::shm_desc();
            let p = f.args.offsets[0];
            out[p + d.fields[1].offset..][..8].copy_from_slice(&args["p"]["age"].as_i64().unwrap().to_le_bytes());
            inline(&mut out, p + d.fields[0].offset, args["p"]["name"].as_str().unwrap().as_bytes());
        }
        "clamp" => {
            out[f.args.offsets[0]..][..8].copy_from_slice(&args["x"].as_f64().unwrap().to_le_bytes());
            // SPEC §4.6: a presence byte, then the value at its alignment (8); absent: all zero.
            for (k, bound) in [(1, "lo"), (2, "hi")] {
                if let Some(v) = args[bound].as_f64() {
                    out[f.args.offsets[k]] = 1;
                    out[f.args.offsets[k] + 8..][..8].copy_from_slice(&v.to_le_bytes());
                }
            }
        }
        "index_of" => {
            let xs: Vec<u8> =
                args["xs"].as_array().unwrap().iter().flat_map(|x| x.as_i64().unwrap().to_le_bytes()).collect();
            out[f.args.offsets[1]..][..8].copy_from_slice(&args["x"].as_i64().unwrap().to_le_bytes());
            inline(&mut out, f.args.offsets[0], &xs);
        }
        other => panic!("no encoder for {other}"),
    }
    if out.len() > fixed && out.len() == fixed.next_multiple_of(c::TAIL_ALIGN) {
        out.truncate(fixed); // no inline data: request_len is the record's size
    }
    out
}

#[test]
fn every_vector_is_listed_with_its_file() {
    let names: Vec<String> = load().iter().map(|v| v.name.clone()).collect();
    for required in [
        "control_header_default",
        "request_add_2_3",
        "request_hello_python",
        "response_hello",
        "request_hello_person",
        "response_error",
        "release_entry",
        "buf_ref_heap",
        "layout_hash",
    ] {
        assert!(names.iter().any(|n| n == required), "vector {required} missing");
    }
    let mut on_disk: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(".bin")).map(str::to_owned))
        .collect();
    on_disk.sort();
    let mut listed = names.clone();
    listed.sort();
    assert_eq!(on_disk, listed, "every .bin is listed in vectors.json and vice versa");
}

#[test]
fn control_header_default() {
    let v = vector("control_header_default");
    let f = &v.fields;
    let ctl = Control::new(u32_of(&f["channel_id"]));
    assert_eq!(ctl.read(0, c::HEADER_SIZE), v.bytes, "ControlView::initialize writes the golden header");
    // The vector's fields are the spec's worked example, and the same as the config's derived sizes.
    let cfg = ctl.config;
    assert_eq!(hex_of(&f["magic"]), c::MAGIC);
    assert_eq!(hex_of(&f["layout_hash"]), c::LAYOUT_HASH);
    assert_eq!(u32_of(&f["version"]), c::PROTOCOL_VERSION);
    assert_eq!(u64_of(&f["header_size"]), c::HEADER_SIZE as u64);
    assert_eq!(u32_of(&f["slot_count"]), cfg.slot_count);
    assert_eq!(u64_of(&f["slot_size"]), cfg.slot_size() as u64);
    assert_eq!(u32_of(&f["request_capacity"]), cfg.request_capacity);
    assert_eq!(u32_of(&f["response_capacity"]), cfg.response_capacity);
    assert_eq!(u32_of(&f["release_capacity"]), cfg.release_capacity);
    assert_eq!(u64_of(&f["segment_size"]), cfg.segment_size() as u64);
    assert_eq!(u64_of(&f["slots_offset"]), cfg.slots_offset() as u64);
    // Magic is the only thing a client reads first: check it sits where the spec says.
    assert_eq!(&v.bytes[off::MAGIC..off::MAGIC + 8], b"SHMCALL\0");
    // Everything after the header (release queue, slots) starts zero.
    assert!(ctl.read(c::HEADER_SIZE, cfg.segment_size() - c::HEADER_SIZE).iter().all(|&b| b == 0));
    assert_eq!(ctl.segment.len(), cfg.segment_size());
}

#[test]
fn buf_ref_heap() {
    let v = vector("buf_ref_heap");
    let b = BufRef {
        segment: u32_of(&v.fields["segment"]),
        offset: u64_of(&v.fields["offset"]),
        length: u64_of(&v.fields["length"]),
    };
    assert_eq!(buf_bytes(b).to_vec(), v.bytes);
    assert_eq!(BufRef::decode(&v.bytes.clone().try_into().unwrap()), Ok(b));
    assert!(!b.is_inline());
}

#[test]
fn release_entry_is_read_by_the_daemon_view() {
    let v = vector("release_entry");
    let ctl = Control::new(0);
    // The client writes entry 0 at the queue's start; the daemon reads it through its view.
    ctl.write(c::RELEASE_OFFSET, &v.bytes);
    let (segment, reserved, offset) = ctl.view.release_entry(0);
    assert_eq!((segment, reserved, offset), (u32_of(&v.fields["segment"]), 0, u64_of(&v.fields["offset"])));
    // Entry release_capacity wraps onto the same place.
    assert_eq!(ctl.view.release_entry(ctl.config.release_capacity as u64), (segment, reserved, offset));
    assert_eq!(v.bytes.len(), c::RELEASE_ENTRY_SIZE);
}

#[test]
fn requests_are_read_by_the_daemon_view_and_decoder() {
    let registry = kernels::registry();
    for v in vectors_of("request") {
        let f = &v.fields;
        let (function_id, request_len, seq) = (u32_of(&f["function_id"]), u32_of(&f["request_len"]), u64_of(&f["seq"]));
        assert_eq!(v.bytes.len(), c::REQUEST_HEADER_SIZE + request_len as usize, "{}", v.name);
        let payload = &v.bytes[c::REQUEST_HEADER_SIZE..];
        assert_eq!(payload_from_pieces(&f["payload"], request_len as usize), payload, "{}: pieces", v.name);

        // The client writes the request half into slot (seq - 1) % slot_count; the daemon reads it back.
        let ctl = Control::new(0);
        let slot = ctl.view.slot_of(seq);
        assert!(!ctl.view.request_published(seq), "{}: a fresh slot publishes nothing", v.name);
        ctl.write(ctl.slot_base(slot), &v.bytes);
        assert!(ctl.view.request_published(seq), "{}: the seq word publishes request {seq}", v.name);
        assert!(
            !ctl.view.request_published(seq + ctl.config.slot_count as u64),
            "{}: not the slot's next request",
            v.name
        );
        assert_eq!(ctl.view.request_header(slot), (function_id, request_len), "{}: header", v.name);
        let mut copy = vec![0u8; request_len as usize];
        ctl.view.copy_request(slot, &mut copy);
        assert_eq!(copy, payload, "{}: payload copy", v.name);

        let name = f["function"].as_str().unwrap();
        if name == "alloc" {
            assert_eq!(function_id, c::FN_ALLOC);
            assert_eq!(u64::from_le_bytes(payload[..8].try_into().unwrap()), u64_of(&f["args"]["size"]));
            continue;
        }
        // Decode with the daemon's reader, against the real signature of the built-in function.
        assert_eq!(encode_call(&registry, name, &f["args"]), payload, "{}: encoded from args", v.name);
        let func = function(&registry, name);
        let (scratch, borrows) = (Scratch::default(), RefCell::default());
        let r = ArgReader::new(payload, func.args.fixed_size, &[], &scratch, &borrows).expect("record fits");
        match name {
            "add" => {
                assert_eq!(func.args.offsets, vec![0, 8]);
                assert_eq!(r.scalar::<i64>(0).unwrap(), f["args"]["a"].as_i64().unwrap());
                assert_eq!(r.scalar::<i64>(8).unwrap(), f["args"]["b"].as_i64().unwrap());
            }
            "hello" => {
                assert_eq!((func.args.offsets.clone(), func.args.fixed_size), (vec![0], 24));
                assert_eq!(r.str(0).unwrap(), f["args"]["name"].as_str().unwrap());
            }
            "hello_person" => {
                assert_eq!((func.args.offsets.clone(), func.args.fixed_size), (vec![0], 32));
                let p = Person::read(&r, 0).unwrap();
                let want = Person {
                    name: f["args"]["p"]["name"].as_str().unwrap().to_owned(),
                    age: f["args"]["p"]["age"].as_i64().unwrap(),
                };
                assert_eq!(p, want);
                assert_eq!(r.str(0).unwrap(), want.name);
                assert_eq!(r.scalar::<i64>(24).unwrap(), want.age);
            }
            "clamp" => {
                assert_eq!((func.args.offsets.clone(), func.args.fixed_size), (vec![0, 8, 24], 40));
                let bound = |at: usize| <Option<f64> as Wire>::read(&r, at).unwrap();
                assert_eq!(r.scalar::<f64>(0).unwrap(), f["args"]["x"].as_f64().unwrap());
                assert_eq!(bound(8), f["args"]["lo"].as_f64());
                assert_eq!(bound(24), f["args"]["hi"].as_f64());
            }
            other => panic!("no decoder check for {other}"),
        }
    }
}

#[test]
fn responses_are_what_the_daemon_writes() {
    let registry = kernels::registry();
    let heap = heap();
    for v in vectors_of("response") {
        let f = &v.fields;
        let (status, response_len, seq) = (u32_of(&f["status"]), u32_of(&f["response_len"]), u64_of(&f["seq"]));
        assert_eq!(v.bytes.len(), c::RESPONSE_HEADER_SIZE + response_len as usize, "{}", v.name);
        let payload = &v.bytes[c::RESPONSE_HEADER_SIZE..];
        assert_eq!(payload_from_pieces(&f["payload"], response_len as usize), payload, "{}: pieces", v.name);

        // The header as the daemon's view writes it into slot (seq - 1) % slot_count.
        let ctl = Control::new(0);
        let slot = ctl.view.slot_of(seq);
        ctl.view.publish_response(slot, status, response_len, seq);
        assert_eq!(
            ctl.read(ctl.response_header_at(slot), c::RESPONSE_HEADER_SIZE),
            v.bytes[..c::RESPONSE_HEADER_SIZE],
            "{}: header",
            v.name
        );

        // The payload as the daemon produces it.
        let name = f["function"].as_str().unwrap();
        let capacity = ctl.config.response_capacity as usize;
        if name == "alloc" {
            // A fresh connection heap: the first block is segment 1, offset 0.
            let b = heap.alloc(u64_of(&f["args"]["size"])).expect("heap block");
            assert_eq!(buf_bytes(b).to_vec(), payload, "{}: alloc result", v.name);
            heap.free(b.segment, b.offset).unwrap();
            continue;
        }
        let func = function(&registry, name);
        let request = encode_call(&registry, name, &f["args"]);
        let (scratch, borrows) = (Scratch::default(), RefCell::default());
        let r = ArgReader::new(&request, func.args.fixed_size, &[], &scratch, &borrows).expect("record fits");
        let mut area = vec![0u8; capacity];
        let mut allocated = Vec::new();
        let mut w = RetWriter::new(&mut area, func.results.fixed_size, &heap, &mut allocated);
        match (func.invoke)(&r, &mut w) {
            Ok(()) => {
                assert_eq!(status, c::status::OK, "{}", v.name);
                assert_eq!(w.len(), response_len as usize, "{}: response_len", v.name);
                assert!(allocated.is_empty(), "{}: golden responses are inline", v.name);
                assert_eq!(&area[..response_len as usize], payload, "{}: payload", v.name);
            }
            Err(failure) => {
                assert_eq!(failure.status(), status, "{}: status", v.name);
                assert!(!matches!(failure, Failure::BadRequest(_)), "{}: the request itself was fine", v.name);
                let message = failure.message();
                assert_eq!(message, f["message"].as_str().unwrap(), "{}: message", v.name);
                assert_eq!(message.as_bytes(), payload, "{}: the whole payload is the message", v.name);
            }
        }
    }
}

#[test]
fn person_result_is_the_spec_layout() {
    // SPEC §4.2 worked example, from the response vector: name reference at 0, age at 24, text at 32.
    let v = vector("response_hello_person");
    let p = &v.bytes[c::RESPONSE_HEADER_SIZE..];
    let name = BufRef::decode(&p[..c::BUF_SIZE].try_into().unwrap()).unwrap();
    assert_eq!(name, BufRef { segment: 0, offset: 32, length: 8 });
    assert_eq!(i64::from_le_bytes(p[24..32].try_into().unwrap()), 18);
    assert_eq!(&p[32..40], b"xiaohong");
}
