//! The protocol constants (SPEC §3, `protocol/constants.toml`) against the daemon's: every value in the TOML
//! file equals the generated Rust constant of the same key, the layout hash covers exactly the hashed keys and
//! equals the golden vector, the default geometry is the spec's worked example, and every `SPEC §` reference
//! in the code points at a section (and ordering label) that exists.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use shmcall::kernels;
use shmcall::kernels::article::Person;
use shmcall::layout::constants::{self as c, off, slot};
use shmcall::layout::{BufRef, ControlConfig};
use shmcall::registry::manifest::Manifest;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every `section.key = value` of constants.toml, values as u64.
fn toml_constants() -> BTreeMap<String, u64> {
    let path = root().join("protocol/constants.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let table: toml::Table = toml::from_str(&text).expect("constants.toml parses");
    let mut out = BTreeMap::new();
    for (section, value) in &table {
        let t = value.as_table().unwrap_or_else(|| panic!("top-level `{section}` must be a table"));
        for (key, v) in t {
            let n = v.as_integer().unwrap_or_else(|| panic!("{section}.{key} must be an integer, found {v}"));
            assert!(n >= 0, "{section}.{key} must not be negative, found {n}");
            out.insert(format!("{section}.{key}"), n as u64);
        }
    }
    out
}

/// Every generated Rust constant by its constants.toml name (`constants::ALL` names the constants, so a hand
/// edit of a value in constants.rs shows here).
fn rust_constants() -> BTreeMap<String, u64> {
    let map: BTreeMap<String, u64> = c::ALL.iter().map(|&(k, v)| (k.to_owned(), v)).collect();
    assert_eq!(map.len(), c::ALL.len(), "ALL lists a key twice");
    map
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

/// The golden layout hash from `protocol/vectors/<version>/vectors.json`.
fn vector_layout_hash() -> u64 {
    let dir = root().join(format!("protocol/vectors/{}", c::PROTOCOL_VERSION));
    let listing: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("vectors.json")).expect("vectors.json exists")).unwrap();
    let hex = listing["layout_hash"].as_str().expect("vectors.json has layout_hash");
    let from_json = u64::from_str_radix(hex, 16).expect("16 hex digits");
    let bin = std::fs::read(dir.join("layout_hash.bin")).expect("layout_hash.bin exists");
    assert_eq!(bin.len(), 8);
    assert_eq!(u64::from_le_bytes(bin.try_into().unwrap()), from_json, "layout_hash.bin and vectors.json disagree");
    from_json
}

#[test]
fn every_toml_constant_equals_the_rust_constant() {
    let toml = toml_constants();
    let rust = rust_constants();
    // Sorted like HASHED, so a key added by hand out of place shows too.
    for w in c::ALL.windows(2) {
        assert!(w[0].0 < w[1].0, "ALL must be sorted by key: {:?} before {:?}", w[0].0, w[1].0);
    }
    let only_toml: Vec<&String> = toml.keys().filter(|k| !rust.contains_key(*k)).collect();
    let only_rust: Vec<&String> = rust.keys().filter(|k| !toml.contains_key(*k)).collect();
    // Either means constants.rs is stale: run `python3 protocol/generate.py`.
    assert!(only_toml.is_empty(), "constants.toml keys with no Rust constant: {only_toml:?}");
    assert!(only_rust.is_empty(), "Rust constants missing from constants.toml: {only_rust:?}");
    let differ: Vec<String> = toml
        .iter()
        .filter(|(k, v)| rust[*k] != **v)
        .map(|(k, v)| format!("{k}: toml {v:#x}, rust {:#x}", rust[k]))
        .collect();
    assert!(differ.is_empty(), "constants differ: {differ:#?}");
}

#[test]
fn hashed_covers_exactly_the_toml_constants_except_defaults() {
    let toml: BTreeMap<String, u64> =
        toml_constants().into_iter().filter(|(k, _)| !k.starts_with("defaults.")).collect();
    let hashed: BTreeMap<String, u64> = c::HASHED.iter().map(|&(k, v)| (k.to_owned(), v)).collect();
    assert_eq!(hashed.len(), c::HASHED.len(), "HASHED lists a key twice");
    assert_eq!(hashed.keys().collect::<BTreeSet<_>>(), toml.keys().collect::<BTreeSet<_>>());
    assert_eq!(hashed, toml, "HASHED values differ from constants.toml");
    // Generated from the same names as ALL: every hashed entry is the ALL entry of its key.
    let all = rust_constants();
    assert!(hashed.iter().all(|(k, v)| all.get(k) == Some(v)), "HASHED and ALL disagree");
    // `layout_hash()` hashes HASHED in array order; SPEC §3.2 hashes in key order: they agree only if sorted.
    for w in c::HASHED.windows(2) {
        assert!(w[0].0 < w[1].0, "HASHED must be sorted by key: {:?} before {:?}", w[0].0, w[1].0);
    }
}

#[test]
fn layout_hash_follows_the_spec_definition_and_the_vector() {
    let toml = toml_constants();
    // SPEC §3.2: "section.key=value\n" for every key outside [defaults], sorted by key, values in decimal.
    let text: String =
        toml.iter().filter(|(k, _)| !k.starts_with("defaults.")).map(|(k, v)| format!("{k}={v}\n")).collect();
    let expected = fnv1a64(text.as_bytes());
    assert_eq!(c::layout_hash(), expected);
    assert_eq!(c::LAYOUT_HASH, expected);
    assert_eq!(vector_layout_hash(), expected, "regenerate the vectors: python3 protocol/vectors/make_vectors.py");
    // The worked example of SPEC §3.2.
    assert_eq!(text.lines().count(), 51);
    assert_eq!(text.len(), 1221);
    assert_eq!(expected, 0x1f3e_8d6d_59b6_4a7f);
}

#[test]
fn manifest_carries_version_and_hash() {
    let m = Manifest::of(&kernels::registry());
    assert_eq!(m.protocol, c::PROTOCOL_VERSION);
    assert_eq!(m.layout_hash, format!("{:016x}", c::LAYOUT_HASH));
    assert_eq!(m.layout_hash.len(), 16);
}

#[test]
fn default_config_is_the_spec_worked_example() {
    let cfg = ControlConfig::default();
    cfg.validate().unwrap();
    assert_eq!(
        (cfg.slot_count, cfg.request_capacity, cfg.response_capacity, cfg.release_capacity),
        (2, 1008, 1008, 1024)
    );
    assert_eq!(cfg.slot_size(), 2048);
    assert_eq!(cfg.slots_offset(), 20480);
    assert_eq!(cfg.segment_size(), 24_576);
    // Both halves of every slot start on a cache line, and each half's seq word shares that line
    // with its header and the first 48 payload bytes (SPEC §3.3).
    let response = c::REQUEST_HEADER_SIZE + 1008;
    for (half, seq) in [(0, slot::REQUEST_SEQ), (response, slot::RESPONSE_SEQ)] {
        assert_eq!((cfg.slots_offset() + half) % c::CACHE_LINE, 0);
        assert!(seq + 8 <= c::REQUEST_HEADER_SIZE.min(c::RESPONSE_HEADER_SIZE));
    }
    assert_eq!(c::CACHE_LINE - c::REQUEST_HEADER_SIZE, 48);
    assert_eq!(c::CACHE_LINE - c::RESPONSE_HEADER_SIZE, 48);
    assert_eq!(cfg.slot_size() % c::CACHE_LINE, 0);
}

#[test]
fn header_fields_are_aligned_and_writers_have_their_own_lines() {
    let u64_fields = [
        off::MAGIC,
        off::LAYOUT_HASH,
        off::SEGMENT_SIZE,
        off::SLOTS_OFFSET,
        off::RELEASE_TAIL,
        off::STARTED,
        off::RELEASE_HEAD,
    ];
    let u32_fields = [
        off::VERSION,
        off::HEADER_SIZE,
        off::SLOT_COUNT,
        off::SLOT_SIZE,
        off::REQUEST_CAPACITY,
        off::RESPONSE_CAPACITY,
        off::RELEASE_CAPACITY,
        off::CHANNEL_ID,
        off::CLIENT_WAITING,
        off::DAEMON_WAITING,
    ];
    let mut spans: Vec<(usize, usize)> =
        u64_fields.iter().map(|&o| (o, o + 8)).chain(u32_fields.iter().map(|&o| (o, o + 4))).collect();
    spans.sort();
    for w in spans.windows(2) {
        assert!(w[0].1 <= w[1].0, "header fields overlap: {w:?}");
    }
    assert!(spans.iter().all(|&(s, e)| s % (e - s) == 0 && e <= c::HEADER_SIZE), "every field aligned to its size");
    let line = |o: usize| o / c::CACHE_LINE;
    for o in [
        off::MAGIC,
        off::VERSION,
        off::HEADER_SIZE,
        off::LAYOUT_HASH,
        off::SLOT_COUNT,
        off::SLOT_SIZE,
        off::SEGMENT_SIZE,
        off::SLOTS_OFFSET,
    ] {
        assert_eq!(line(o), 0, "fixed fields live in line 0");
    }
    for o in [off::CLIENT_WAITING, off::RELEASE_TAIL] {
        assert_eq!(line(o), 1, "client words live in line 1");
    }
    for o in [off::STARTED, off::DAEMON_WAITING, off::RELEASE_HEAD] {
        assert_eq!(line(o), 2, "daemon words live in line 2");
    }
    assert_eq!(c::RELEASE_OFFSET, c::HEADER_SIZE, "the release queue follows the header");
    assert_eq!(c::MAGIC.to_le_bytes(), *b"SHMCALL\0");
}

#[test]
fn buf_ref_fields_sit_at_the_generated_offsets() {
    // BufRef::encode writes the fields by position; the offsets it must agree with are generated.
    let mut bytes = [0u8; c::BUF_SIZE];
    BufRef { segment: 3, offset: 4096, length: 800 }.encode(&mut bytes);
    assert_eq!(bytes[c::BUF_OFF_SEGMENT..][..4], 3u32.to_le_bytes());
    assert_eq!(bytes[c::BUF_OFF_RESERVED..][..4], [0; 4]);
    assert_eq!(bytes[c::BUF_OFF_OFFSET..][..8], 4096u64.to_le_bytes());
    assert_eq!(bytes[c::BUF_OFF_LENGTH..][..8], 800u64.to_le_bytes());
    assert_eq!(c::BUF_OFF_LENGTH + 8, c::BUF_SIZE);
}

#[test]
fn person_is_the_spec_worked_example() {
    let d = Person::shm_desc();
    let offsets: Vec<(&str, usize, String)> = d.fields.iter().map(|f| (f.name, f.offset, f.ty.name())).collect();
    assert_eq!(offsets, vec![("name", 0, "str".to_owned()), ("age", 24, "i64".to_owned())]);
    assert_eq!((d.size, d.align, d.plain), (32, 8, false));
}

/// Files under `dir` (recursively) whose name ends with one of `exts`.
fn files(dir: &Path, exts: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if !matches!(p.file_name().and_then(|n| n.to_str()), Some("target" | "__pycache__" | ".pytest_cache")) {
                files(&p, exts, out);
            }
        } else if exts.iter().any(|x| p.to_string_lossy().ends_with(x)) {
            out.push(p);
        }
    }
}

/// SPEC.md's section numbers ("3", "3.1", …) with the text of each section.
fn spec_sections() -> BTreeMap<String, String> {
    let spec = std::fs::read_to_string(root().join("protocol/SPEC.md")).expect("protocol/SPEC.md exists");
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut current: Vec<String> = Vec::new();
    for line in spec.lines() {
        if let Some(h) = line.strip_prefix("## ").or_else(|| line.strip_prefix("### ")) {
            if let Some(num) = h.split_whitespace().next().map(|n| n.trim_end_matches('.')) {
                if num.chars().all(|ch| ch.is_ascii_digit() || ch == '.') && !num.is_empty() {
                    if line.starts_with("## ") {
                        current.clear();
                    }
                    current.retain(|n| !n.contains('.'));
                    current.push(num.to_owned());
                    out.entry(num.to_owned()).or_default();
                    continue;
                }
            }
        }
        for n in &current {
            let s = out.get_mut(n).expect("section exists");
            s.push_str(line);
            s.push('\n');
        }
    }
    out
}

#[test]
fn every_spec_reference_in_the_code_exists() {
    let sections = spec_sections();
    for required in [
        "1", "2", "3", "3.1", "3.2", "3.3", "4", "4.1", "4.2", "4.3", "4.4", "4.5", "5", "5.1", "5.2", "5.3", "5.4",
        "6", "7",
    ] {
        assert!(sections.contains_key(required), "SPEC.md has no section {required}");
    }
    let mut paths = Vec::new();
    files(&root().join("src"), &[".rs"], &mut paths);
    files(&root().join("tests"), &[".rs"], &mut paths);
    files(&root().join("python"), &[".py"], &mut paths);
    files(&root().join("protocol"), &[".py"], &mut paths);
    let mut checked = 0;
    let mut problems = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate() {
            let Some(start) = line.find("SPEC §") else { continue };
            // Every "§x.y" after "SPEC" on the line, each optionally followed by ` "label"`.
            let mut rest = &line[start..];
            while let Some(i) = rest.find('§') {
                rest = &rest[i + '§'.len_utf8()..];
                let num: String = rest.chars().take_while(|ch| ch.is_ascii_digit() || *ch == '.').collect();
                let num = num.trim_end_matches('.').to_owned();
                if num.is_empty() {
                    continue; // "SPEC §{x}" in a format string, not a reference
                }
                let after = &rest[num.len()..];
                let at = format!("{}:{}", path.strip_prefix(root()).unwrap().display(), n + 1);
                checked += 1;
                match sections.get(&num) {
                    None => problems.push(format!("{at}: SPEC §{num} does not exist")),
                    Some(body) => {
                        if let Some(label) = after.strip_prefix(" \"").and_then(|l| l.split('"').next()) {
                            if !body.contains(&format!("\"{label}\"")) {
                                problems.push(format!("{at}: SPEC §{num} defines no rule \"{label}\""));
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(checked > 20, "found only {checked} references: is the scan broken?");
    assert!(problems.is_empty(), "dangling spec references:\n{}", problems.join("\n"));
}

#[test]
fn ordering_labels_are_the_spec_labels() {
    let sections = spec_sections();
    for (section, label) in [
        ("5.1", "segment ready"),
        ("5.2", "request published"),
        ("5.2", "response published"),
        ("5.3", "release published"),
        ("5.3", "release consumed"),
        ("5.4", "no lost wake-up"),
    ] {
        assert!(sections[section].contains(&format!("\"{label}\"")), "SPEC §{section} must define rule \"{label}\"");
        assert!(sections["5"].contains(&format!("**{label}**")), "the table of SPEC §5 must list \"{label}\"");
    }
}

#[test]
fn the_spec_states_the_protocol_version_of_the_constants() {
    let spec = std::fs::read_to_string(root().join("protocol/SPEC.md")).expect("protocol/SPEC.md exists");
    let v = c::PROTOCOL_VERSION;
    assert!(spec.lines().any(|l| l == format!("*Version: {v}*")), "SPEC.md's title line does not say version {v}");
    assert!(
        spec.contains(&format!("| `version` | format version: {v} ")),
        "SPEC §3.1's `version` row does not say {v}"
    );
}
