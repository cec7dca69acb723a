//! C2SP `tlog-tiles`: tile and entry-bundle paths, which tiles exist for a tree size, tile and
//! bundle encodings, and reading complete-subtree hashes out of tiles.
//!
//! Owns the arithmetic between the tree's [`NodeId`] `(level, index)` coordinates and tiles;
//! it does not read or write the store (callers fetch tile bytes and hand them in), so proofs
//! can be served from any storage. Paths are relative to the ledger's prefix in the store
//! (`ledger/`, [`super::STORE_PREFIX`]). Specified in `formats/ledger.md`.
//!
//! Coordinates: a tile `(L, N)` holds the hashes of tree nodes `(8·L, N·256 + i)` for `i` in
//! `0..W` (the spec's `MTH(D[(N·256+i)·256^L : (N·256+i+1)·256^L])`). Nodes whose level is
//! not a multiple of 8 are recomputed from the `2^(level mod 8)` tile hashes below them. This
//! module uses [`NodeId`] coordinates, not Go's `sumdb/tlog` stored-hash index.

use std::collections::BTreeMap;
use std::fmt;

use super::merkle::{node_hash, Hash, HashReader, NodeId, TreeSize, HASH_LEN};

/// Tree levels per tile level: a tile is a subtree of height 8.
pub const TILE_HEIGHT: u8 = 8;

/// Hashes in a full tile, entries in a full bundle.
pub const TILE_WIDTH: u16 = 256;

/// The highest tile level a path may name.
pub const MAX_LEVEL: u8 = 63;

/// Largest entry an entry bundle can hold (its length is a big-endian `uint16`).
pub const MAX_ENTRY_LEN: usize = u16::MAX as usize;

/// What is wrong with a tile, a bundle, a path or a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A tile level above [`MAX_LEVEL`].
    #[error("tile level {level} is above {MAX_LEVEL}")]
    Level {
        /// The level given.
        level: u8,
    },
    /// A tile width outside `1..=256`.
    #[error("tile width {width} is not between 1 and {TILE_WIDTH}")]
    Width {
        /// The width given.
        width: u16,
    },
    /// A string that is not a canonical tile or entry-bundle path.
    #[error("{path:?} is not a tlog-tiles path: {reason}")]
    Path {
        /// The path given.
        path: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// A node that is not a complete subtree of the tree of that size.
    #[error("{node} is not a complete subtree of a tree of size {size}")]
    NodeOutsideTree {
        /// The node asked for.
        node: NodeId,
        /// The tree size.
        size: u64,
    },
    /// A tile whose byte length is not `width × 32`.
    #[error("tile {path} is {got} bytes, expected {want}")]
    TileLength {
        /// The tile's path.
        path: String,
        /// Bytes found.
        got: usize,
        /// Bytes its width calls for.
        want: usize,
    },
    /// An entry too long for a bundle.
    #[error("entry {position} of the bundle is {len} bytes; at most {MAX_ENTRY_LEN} fit")]
    EntryTooLong {
        /// Position in the bundle.
        position: usize,
        /// Its length.
        len: usize,
    },
    /// A bundle of no entries or more than 256.
    #[error("a bundle holds 1 to {TILE_WIDTH} entries, not {count}")]
    BundleCount {
        /// Entries given.
        count: usize,
    },
    /// A bundle whose bytes end inside a length prefix or an entry.
    #[error("the entry bundle is truncated at byte {offset} (entry {position})")]
    BundleTruncated {
        /// Where the missing bytes start.
        offset: usize,
        /// The entry being read.
        position: usize,
    },
    /// A bundle holding a different number of entries than its width says.
    #[error("the entry bundle holds {got} entries, its width is {want}")]
    BundleWidth {
        /// Entries found.
        got: usize,
        /// The width of the bundle's path.
        want: u16,
    },
}

/// A tile: level `L`, index `N` within the level, and width `W` (256 = full, fewer = partial).
///
/// The same `(N, W)` of a level-0 tile also names the entry bundle beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tile {
    level: u8,
    index: u64,
    width: u16,
}

impl Tile {
    /// A tile; the level must be at most 63 and the width between 1 and 256.
    pub fn new(level: u8, index: u64, width: u16) -> Result<Tile, Error> {
        if level > MAX_LEVEL {
            return Err(Error::Level { level });
        }
        if width == 0 || width > TILE_WIDTH {
            return Err(Error::Width { width });
        }
        Ok(Tile {
            level,
            index,
            width,
        })
    }

    /// The tile level (0: leaf hashes).
    pub fn level(&self) -> u8 {
        self.level
    }

    /// The index within the level.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Number of hashes (of entries, for a bundle).
    pub fn width(&self) -> u16 {
        self.width
    }

    /// Whether the tile holds fewer than 256 hashes.
    pub fn is_partial(&self) -> bool {
        self.width < TILE_WIDTH
    }

    /// Length of the tile in bytes (`width × 32`).
    pub fn byte_len(&self) -> usize {
        usize::from(self.width) * HASH_LEN
    }

    /// `tile/<L>/<N>[.p/<W>]`.
    pub fn path(&self) -> String {
        format!("tile/{}/{}", self.level, self.suffix())
    }

    /// `tile/entries/<N>[.p/<W>]`, the entry bundle beside a level-0 tile; `None` at other
    /// levels.
    pub fn entries_path(&self) -> Option<String> {
        (self.level == 0).then(|| format!("tile/entries/{}", self.suffix()))
    }

    fn suffix(&self) -> String {
        let n = encode_index(self.index);
        if self.is_partial() {
            format!("{n}.p/{}", self.width)
        } else {
            n
        }
    }

    /// The tree nodes whose hashes the tile holds, in order.
    pub fn nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        let level = self.level.saturating_mul(TILE_HEIGHT);
        let first = self.index.saturating_mul(u64::from(TILE_WIDTH));
        (0..u64::from(self.width)).map(move |i| NodeId {
            level,
            index: first.saturating_add(i),
        })
    }
}

impl fmt::Display for Tile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

/// A resource named by a tlog-tiles path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    /// `tile/<L>/<N>[.p/<W>]`: hashes.
    Tile(Tile),
    /// `tile/entries/<N>[.p/<W>]`: the entry bundle of the level-0 tile given.
    Entries(Tile),
}

impl Resource {
    /// Its path.
    pub fn path(&self) -> String {
        match self {
            Resource::Tile(t) => t.path(),
            Resource::Entries(t) => format!("tile/entries/{}", t.suffix()),
        }
    }

    /// Parses a path strictly: only the canonical encoding is accepted (no leading zeros in
    /// `L` or `W`, 3-digit groups with `x` on all but the last, no `x000` first group, no
    /// `.p/256`), so every resource has exactly one path.
    pub fn parse(path: &str) -> Result<Resource, Error> {
        let bad = |reason| Error::Path {
            path: path.to_string(),
            reason,
        };
        let rest = path
            .strip_prefix("tile/")
            .ok_or_else(|| bad("does not start with tile/"))?;
        let (head, rest) = rest
            .split_once('/')
            .ok_or_else(|| bad("no index after the level"))?;
        let entries = head == "entries";
        let level = if entries {
            0
        } else {
            parse_decimal(head)
                .and_then(|l| u8::try_from(l).ok())
                .filter(|l| *l <= MAX_LEVEL)
                .ok_or_else(|| bad("the level is not a decimal between 0 and 63"))?
        };
        let (index_part, width) = match rest.split_once(".p/") {
            Some((n, w)) => {
                let w = parse_decimal(w)
                    .and_then(|w| u16::try_from(w).ok())
                    .filter(|w| (1..TILE_WIDTH).contains(w))
                    .ok_or_else(|| bad("the partial width is not a decimal between 1 and 255"))?;
                (n, w)
            }
            None => (rest, TILE_WIDTH),
        };
        let index = decode_index(index_part).ok_or_else(|| bad("the index is not canonical"))?;
        let tile = Tile::new(level, index, width)?;
        Ok(if entries {
            Resource::Entries(tile)
        } else {
            Resource::Tile(tile)
        })
    }
}

/// A decimal with no sign and no leading zeros ("0" itself is fine).
fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// The tile index as zero-padded 3-digit path elements, all but the last prefixed with `x`:
/// 1234067 → `x001/x234/067`, 5 → `005`.
pub fn encode_index(index: u64) -> String {
    let mut groups = Vec::new();
    let mut n = index;
    loop {
        groups.push(n % 1000);
        n /= 1000;
        if n == 0 {
            break;
        }
    }
    let last = groups.len() - 1;
    groups
        .iter()
        .rev()
        .enumerate()
        .map(|(i, g)| {
            if i == last {
                format!("{g:03}")
            } else {
                format!("x{g:03}")
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The inverse of [`encode_index`]; `None` unless `s` is its exact output for some `u64`.
pub fn decode_index(s: &str) -> Option<u64> {
    let parts: Vec<&str> = s.split('/').collect();
    let (last, init) = parts.split_last()?;
    let mut n: u64 = 0;
    for (i, p) in init.iter().enumerate() {
        let digits = p.strip_prefix('x')?;
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if i == 0 && digits == "000" {
            return None; // a leading zero group is not canonical
        }
        n = n.checked_mul(1000)?.checked_add(digits.parse().ok()?)?;
    }
    if last.len() != 3 || !last.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.checked_mul(1000)?.checked_add(last.parse().ok()?)
}

/// Number of hashes at tile level `level` in a tree of `size` leaves: `floor(size / 256^level)`.
pub fn hashes_at_level(size: TreeSize, level: u8) -> u64 {
    let shift = u32::from(level) * u32::from(TILE_HEIGHT);
    size.0.checked_shr(shift).unwrap_or(0)
}

/// The width of tile `(level, index)` in the tree of `size` leaves, or `None` if that tree has
/// no such tile (empty tiles do not exist).
pub fn tile_width(level: u8, index: u64, size: TreeSize) -> Option<u16> {
    let count = hashes_at_level(size, level);
    let full = count / u64::from(TILE_WIDTH);
    if index < full {
        Some(TILE_WIDTH)
    } else if index == full && !count.is_multiple_of(u64::from(TILE_WIDTH)) {
        u16::try_from(count % u64::from(TILE_WIDTH)).ok()
    } else {
        None
    }
}

/// The tile `(level, index)` as the tree of `size` leaves has it.
pub fn tile_at(level: u8, index: u64, size: TreeSize) -> Option<Tile> {
    let width = tile_width(level, index, size)?;
    Tile::new(level, index, width).ok()
}

/// Every tile of the tree of `size` leaves: at each level the full tiles, then the partial one
/// if any. The level-0 tiles also name the entry bundles.
pub fn tiles_for_size(size: TreeSize) -> Vec<Tile> {
    tiles_added(TreeSize(0), size)
}

/// The tiles a log writes when it grows from `old` to `new` leaves: the tiles of `new` that
/// `old` did not have with the same width (new tiles, and partial tiles grown wider or full).
/// Empty when `new <= old`.
pub fn tiles_added(old: TreeSize, new: TreeSize) -> Vec<Tile> {
    let mut out = Vec::new();
    if new.0 <= old.0 {
        return out;
    }
    for level in 0..=MAX_LEVEL {
        let count_new = hashes_at_level(new, level);
        if count_new == 0 {
            break;
        }
        let count_old = hashes_at_level(old, level);
        if count_new == count_old {
            continue;
        }
        let first = count_old / u64::from(TILE_WIDTH);
        let end = count_new.div_ceil(u64::from(TILE_WIDTH));
        out.extend((first..end).filter_map(|index| tile_at(level, index, new)));
    }
    out
}

/// Where a complete subtree's hash is found in the tiles of a tree of some size: the
/// `count` hashes from position `start` of `tile` fold into it (`count` a power of two, 1 to
/// 128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeLocation {
    /// The tile to read.
    pub tile: Tile,
    /// The first hash of the tile that belongs to the node.
    pub start: u16,
    /// How many consecutive hashes make up the node.
    pub count: u16,
}

/// The tile (with its width in the tree of `size` leaves) and hashes that give `node`.
pub fn node_location(node: NodeId, size: TreeSize) -> Result<NodeLocation, Error> {
    if !node.is_within(size) {
        return Err(Error::NodeOutsideTree { node, size: size.0 });
    }
    let level = node.level / TILE_HEIGHT;
    let rise = u32::from(node.level % TILE_HEIGHT);
    // Within the tree, so these fit: the first hash is at index << rise < size / 256^level.
    let first = node.index << rise;
    let index = first / u64::from(TILE_WIDTH);
    let start = (first % u64::from(TILE_WIDTH)) as u16;
    let tile = tile_at(level, index, size).ok_or(Error::NodeOutsideTree { node, size: size.0 })?;
    Ok(NodeLocation {
        tile,
        start,
        count: 1 << rise,
    })
}

/// The distinct tiles that hold the given nodes in the tree of `size` leaves.
pub fn tiles_for_nodes(nodes: &[NodeId], size: TreeSize) -> Result<Vec<Tile>, Error> {
    let mut tiles: Vec<Tile> = nodes
        .iter()
        .map(|n| node_location(*n, size).map(|l| l.tile))
        .collect::<Result<_, _>>()?;
    tiles.sort();
    tiles.dedup();
    Ok(tiles)
}

/// The bytes of a tile: its hashes concatenated.
pub fn encode_tile(hashes: &[Hash]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hashes.len() * HASH_LEN);
    for h in hashes {
        out.extend_from_slice(h.as_bytes());
    }
    out
}

/// The hashes of a tile; its length must be exactly `width × 32`.
pub fn decode_tile(tile: &Tile, bytes: &[u8]) -> Result<Vec<Hash>, Error> {
    if bytes.len() != tile.byte_len() {
        return Err(Error::TileLength {
            path: tile.path(),
            got: bytes.len(),
            want: tile.byte_len(),
        });
    }
    Ok(bytes
        .chunks_exact(HASH_LEN)
        .map(|c| {
            let mut a = [0u8; HASH_LEN];
            a.copy_from_slice(c);
            Hash::from_bytes(a)
        })
        .collect())
}

/// The hash of the node at `loc`, from the bytes of `loc.tile`.
pub fn hash_from_tile(loc: &NodeLocation, bytes: &[u8]) -> Result<Hash, Error> {
    let hashes = decode_tile(&loc.tile, bytes)?;
    let start = usize::from(loc.start);
    let end = start + usize::from(loc.count);
    let mut layer: Vec<Hash> = hashes
        .get(start..end)
        .ok_or_else(|| Error::TileLength {
            path: loc.tile.path(),
            got: bytes.len(),
            want: end * HASH_LEN,
        })?
        .to_vec();
    while layer.len() > 1 {
        layer = layer
            .chunks_exact(2)
            .map(|p| node_hash(&p[0], &p[1]))
            .collect();
    }
    layer.first().copied().ok_or(Error::Width { width: 0 })
}

/// Failure to read node hashes from tiles.
#[derive(Debug, thiserror::Error)]
pub enum TileReadError<E: std::error::Error + 'static> {
    /// The request or a tile is malformed.
    #[error(transparent)]
    Tile(#[from] Error),
    /// The tile could not be fetched.
    #[error("cannot fetch {path}")]
    Fetch {
        /// The tile's path.
        path: String,
        /// The cause.
        #[source]
        source: E,
    },
}

/// The hashes of `nodes` in the tree of `size` leaves, fetching each tile needed once through
/// `fetch` (which returns the tile's bytes). With an asynchronous store, fetch
/// [`tiles_for_nodes`] first and hand in a lookup.
pub fn node_hashes<E, F>(
    nodes: &[NodeId],
    size: TreeSize,
    mut fetch: F,
) -> Result<Vec<Hash>, TileReadError<E>>
where
    E: std::error::Error + 'static,
    F: FnMut(&Tile) -> Result<Vec<u8>, E>,
{
    let locations: Vec<NodeLocation> = nodes
        .iter()
        .map(|n| node_location(*n, size))
        .collect::<Result<_, _>>()?;
    let mut fetched: BTreeMap<Tile, Vec<u8>> = BTreeMap::new();
    for loc in &locations {
        if let std::collections::btree_map::Entry::Vacant(slot) = fetched.entry(loc.tile) {
            let bytes = fetch(&loc.tile).map_err(|source| TileReadError::Fetch {
                path: loc.tile.path(),
                source,
            })?;
            slot.insert(bytes);
        }
    }
    locations
        .iter()
        .map(|loc| {
            let bytes = fetched.get(&loc.tile).map_or(&[][..], Vec::as_slice);
            Ok(hash_from_tile(loc, bytes)?)
        })
        .collect()
}

/// A [`HashReader`] over the tiles of one tree size, fetched through a function. This is how
/// proofs are served from the store.
pub struct TileHashReader<F> {
    size: TreeSize,
    fetch: F,
}

impl<F> TileHashReader<F> {
    /// A reader of the tree of `size` leaves; `fetch` returns a tile's bytes.
    pub fn new(size: TreeSize, fetch: F) -> TileHashReader<F> {
        TileHashReader { size, fetch }
    }
}

impl<F, E> HashReader for TileHashReader<F>
where
    E: std::error::Error + 'static,
    F: Fn(&Tile) -> Result<Vec<u8>, E>,
{
    type Error = TileReadError<E>;

    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, Self::Error> {
        node_hashes(nodes, self.size, &self.fetch)
    }
}

/// An entry bundle: each entry as a big-endian `uint16` length and its bytes. Holds 1 to 256
/// entries of at most 65,535 bytes each.
pub fn encode_bundle<B: AsRef<[u8]>>(entries: &[B]) -> Result<Vec<u8>, Error> {
    if entries.is_empty() || entries.len() > usize::from(TILE_WIDTH) {
        return Err(Error::BundleCount {
            count: entries.len(),
        });
    }
    let total: usize = entries.iter().map(|e| 2 + e.as_ref().len()).sum();
    let mut out = Vec::with_capacity(total);
    for (position, e) in entries.iter().enumerate() {
        let e = e.as_ref();
        let len = u16::try_from(e.len()).map_err(|_| Error::EntryTooLong {
            position,
            len: e.len(),
        })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// The entries of a bundle, which must hold exactly `width` entries and nothing after them.
pub fn decode_bundle(bytes: &[u8], width: u16) -> Result<Vec<&[u8]>, Error> {
    let mut out = Vec::with_capacity(usize::from(width));
    let mut at = 0;
    while at < bytes.len() {
        let position = out.len();
        if position == usize::from(TILE_WIDTH) {
            return Err(Error::BundleCount {
                count: position + 1,
            });
        }
        let len = bytes
            .get(at..at + 2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
            .ok_or(Error::BundleTruncated {
                offset: at,
                position,
            })?;
        let entry = bytes
            .get(at + 2..at + 2 + len)
            .ok_or(Error::BundleTruncated {
                offset: at + 2,
                position,
            })?;
        out.push(entry);
        at += 2 + len;
    }
    if out.len() != usize::from(width) {
        return Err(Error::BundleWidth {
            got: out.len(),
            want: width,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::super::merkle::{
        consistency_proof, inclusion_proof, leaf_hash, root, root_of, verify_consistency,
        verify_inclusion, LeafIndex, MemoryTree,
    };
    use super::*;

    fn tile(level: u8, index: u64, width: u16) -> Tile {
        Tile::new(level, index, width).expect("valid tile")
    }

    #[test]
    fn index_encoding_spec_example() {
        assert_eq!(encode_index(1_234_067), "x001/x234/067");
        assert_eq!(decode_index("x001/x234/067"), Some(1_234_067));
        for (n, s) in [
            (0, "000"),
            (5, "005"),
            (999, "999"),
            (1000, "x001/000"),
            (273, "273"),
            (u64::MAX, "x018/x446/x744/x073/x709/x551/615"),
        ] {
            assert_eq!(encode_index(n), s);
            assert_eq!(decode_index(s), Some(n), "{s}");
        }
        for bad in [
            "",
            "5",
            "05",
            "0005",
            "x005",
            "001/005",
            "x000/005",
            "x01/005",
            "xx01/005",
            "x001/x005",
            "x1a1/000",
            "-01",
            "x018/x446/x744/x073/x709/x551/616",
        ] {
            assert_eq!(decode_index(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn paths_spec_examples() {
        assert_eq!(tile(0, 1_234_067, 256).path(), "tile/0/x001/x234/067");
        assert_eq!(tile(1, 1_234_067, 8).path(), "tile/1/x001/x234/067.p/8");
        assert_eq!(tile(0, 0, 112).path(), "tile/0/000.p/112");
        assert_eq!(tile(2, 0, 1).path(), "tile/2/000.p/1");
        assert_eq!(
            tile(0, 273, 112).entries_path().as_deref(),
            Some("tile/entries/273.p/112")
        );
        assert_eq!(
            tile(0, 1_234_067, 256).entries_path().as_deref(),
            Some("tile/entries/x001/x234/067")
        );
        assert_eq!(tile(1, 0, 256).entries_path(), None);
        assert!(Tile::new(64, 0, 1).is_err());
        assert!(Tile::new(0, 0, 0).is_err());
        assert!(Tile::new(0, 0, 257).is_err());
    }

    #[test]
    fn path_parsing_is_strict() {
        for t in [
            tile(0, 0, 1),
            tile(0, 1_234_067, 256),
            tile(63, 7, 255),
            tile(3, 1000, 17),
        ] {
            assert_eq!(Resource::parse(&t.path()), Ok(Resource::Tile(t)));
            if let Some(p) = t.entries_path() {
                assert_eq!(Resource::parse(&p), Ok(Resource::Entries(t)));
                assert_eq!(Resource::Entries(t).path(), p);
            }
        }
        for bad in [
            "tile/00/000",
            "tile/64/000",
            "tile/-1/000",
            "tile/0/000.p/0",
            "tile/0/000.p/256",
            "tile/0/000.p/012",
            "tile/0/0",
            "tile/0/x000/001",
            "tile/0",
            "tiles/0/000",
            "tile/entries/000.p/",
            "tile/0/000.p/1/",
            "/tile/0/000",
        ] {
            assert!(Resource::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tiles_for_spec_sizes() {
        // The spec: size 70,000 has 273 full level-0 tiles, a partial level-0 tile of width
        // 112, one full level-1 tile, a partial level-1 tile of width 17, a partial level-2
        // tile of width 1.
        let tiles = tiles_for_size(TreeSize(70_000));
        let level = |l: u8| tiles.iter().filter(move |t| t.level() == l);
        assert_eq!(level(0).filter(|t| !t.is_partial()).count(), 273);
        assert_eq!(
            level(0).filter(|t| t.is_partial()).collect::<Vec<_>>(),
            [&tile(0, 273, 112)]
        );
        assert_eq!(
            level(1).copied().collect::<Vec<_>>(),
            [tile(1, 0, 256), tile(1, 1, 17)]
        );
        assert_eq!(level(2).copied().collect::<Vec<_>>(), [tile(2, 0, 1)]);
        assert_eq!(tiles.len(), 273 + 1 + 2 + 1);
        // A tree of size 256: one full level-0 tile and a partial level-1 tile of width 1.
        assert_eq!(
            tiles_for_size(TreeSize(256)),
            [tile(0, 0, 256), tile(1, 0, 1)]
        );
        assert_eq!(tiles_for_size(TreeSize(0)), []);
        assert_eq!(tiles_for_size(TreeSize(1)), [tile(0, 0, 1)]);
        // The partial width at level l is floor(s / 256^l) mod 256.
        assert_eq!(tile_width(0, 273, TreeSize(70_000)), Some(112));
        assert_eq!(tile_width(1, 1, TreeSize(70_000)), Some(17));
        assert_eq!(tile_width(2, 0, TreeSize(70_000)), Some(1));
        assert_eq!(tile_width(0, 274, TreeSize(70_000)), None);
        assert_eq!(tile_width(3, 0, TreeSize(70_000)), None);
        assert_eq!(tile_width(7, 0, TreeSize(u64::MAX)), Some(255));
        assert_eq!(tile_width(8, 0, TreeSize(u64::MAX)), None);
    }

    #[test]
    fn tiles_added_when_growing() {
        assert_eq!(tiles_added(TreeSize(5), TreeSize(5)), []);
        assert_eq!(tiles_added(TreeSize(5), TreeSize(3)), []);
        assert_eq!(tiles_added(TreeSize(5), TreeSize(9)), [tile(0, 0, 9)]);
        assert_eq!(
            tiles_added(TreeSize(200), TreeSize(300)),
            [tile(0, 0, 256), tile(0, 1, 44), tile(1, 0, 1)]
        );
        assert_eq!(tiles_added(TreeSize(256), TreeSize(257)), [tile(0, 1, 1)]);
        // Growing in any steps writes, in the end, exactly the tiles of the final size.
        let mut seen = std::collections::BTreeSet::new();
        let mut size = 0;
        for step in [1, 254, 1, 300, 65_000, 4_444] {
            for t in tiles_added(TreeSize(size), TreeSize(size + step)) {
                seen.insert((t.level(), t.index(), t.width()));
            }
            size += step;
        }
        for t in tiles_for_size(TreeSize(size)) {
            assert!(seen.contains(&(t.level(), t.index(), t.width())), "{t}");
        }
    }

    /// Tiles of a memory tree, as a store would hold them for every size in `sizes`.
    fn tile_store(tree: &MemoryTree, sizes: &[u64]) -> HashMap<String, Vec<u8>> {
        let mut store = HashMap::new();
        for &s in sizes {
            for t in tiles_for_size(TreeSize(s)) {
                let hashes: Vec<Hash> = t
                    .nodes()
                    .map(|n| tree.node(n).expect("node in tree"))
                    .collect();
                store.insert(t.path(), encode_tile(&hashes));
            }
        }
        store
    }

    #[derive(Debug, thiserror::Error)]
    #[error("no tile at {0}")]
    struct NotFound(String);

    #[test]
    fn tile_contents_match_the_spec_formula() {
        let leaves: Vec<Hash> = (0..70_000u32)
            .map(|i| leaf_hash(&i.to_be_bytes()))
            .collect();
        let tree = MemoryTree::from_leaf_hashes(leaves.iter().copied());
        // MTH(D[(n*256+i)*256^l : (n*256+i+1)*256^l]) for a few tiles and positions.
        for (l, n, i) in [
            (0u8, 0u64, 0u64),
            (0, 273, 111),
            (1, 0, 0),
            (1, 0, 255),
            (1, 1, 16),
        ] {
            let span = 256u64.pow(u32::from(l));
            let start = ((n * 256 + i) * span) as usize;
            let end = ((n * 256 + i + 1) * span) as usize;
            let t = tile_at(l, n, TreeSize(70_000)).expect("tile exists");
            let hash = t.nodes().nth(i as usize).and_then(|node| tree.node(node));
            assert_eq!(
                hash,
                Some(root_of(&leaves[start..end])),
                "tile {t} hash {i}"
            );
        }
    }

    #[test]
    fn proofs_served_from_tiles() {
        let n = 70_000u64;
        let tree = MemoryTree::from_leaf_hashes((0..n).map(|i| leaf_hash(&i.to_be_bytes())));
        let sizes = [1, 255, 256, 257, 65_536, 65_537, 69_999, n];
        let store = tile_store(&tree, &sizes);
        for &size in &sizes {
            let reader = TileHashReader::new(TreeSize(size), |t: &Tile| {
                store.get(&t.path()).cloned().ok_or(NotFound(t.path()))
            });
            let want = tree.root_at(TreeSize(size)).expect("memory root");
            assert_eq!(
                root(&reader, TreeSize(size)).expect("tile root"),
                want,
                "{size}"
            );
            for index in [0, size / 3, size / 2, size - 1] {
                let proof = inclusion_proof(&reader, LeafIndex(index), TreeSize(size))
                    .expect("inclusion from tiles");
                assert_eq!(
                    proof,
                    inclusion_proof(&tree, LeafIndex(index), TreeSize(size)).expect("memory")
                );
                let leaf = leaf_hash(&index.to_be_bytes());
                verify_inclusion(LeafIndex(index), TreeSize(size), &leaf, &proof, &want)
                    .expect("verifies");
            }
            for &old in sizes.iter().filter(|&&o| o <= size) {
                let proof = consistency_proof(&reader, TreeSize(old), TreeSize(size))
                    .expect("consistency from tiles");
                let r1 = tree.root_at(TreeSize(old)).expect("old root");
                verify_consistency(TreeSize(old), TreeSize(size), &proof, &r1, &want)
                    .expect("verifies");
            }
        }
        // A tile missing from the store is reported with its path.
        let reader = TileHashReader::new(TreeSize(300), |t: &Tile| {
            store.get(&t.path()).cloned().ok_or(NotFound(t.path()))
        });
        match root(&reader, TreeSize(300)) {
            Err(crate::ledger::merkle::ProveError::Read(TileReadError::Fetch { path, .. })) => {
                assert_eq!(path, "tile/0/001.p/44");
            }
            other => panic!("expected a fetch error, got {other:?}"),
        }
    }

    #[test]
    fn node_locations() {
        let size = TreeSize(70_000);
        let at = |level, index| node_location(NodeId { level, index }, size);
        assert_eq!(
            at(0, 69_999).expect("last leaf"),
            NodeLocation {
                tile: tile(0, 273, 112),
                start: 111,
                count: 1
            }
        );
        assert_eq!(
            at(3, 10).expect("level 3"),
            NodeLocation {
                tile: tile(0, 0, 256),
                start: 80,
                count: 8
            }
        );
        assert_eq!(
            at(8, 272).expect("level 8"),
            NodeLocation {
                tile: tile(1, 1, 17),
                start: 16,
                count: 1
            }
        );
        assert_eq!(
            at(16, 0).expect("level 16"),
            NodeLocation {
                tile: tile(2, 0, 1),
                start: 0,
                count: 1
            }
        );
        assert!(at(0, 70_000).is_err());
        assert!(at(1, 35_000).is_err());
        assert!(at(16, 1).is_err());
        assert!(at(17, 0).is_err());
        assert!(at(63, 1).is_err());
        let loc = at(0, 0).expect("first");
        assert!(matches!(
            hash_from_tile(&loc, &[0u8; 31]),
            Err(Error::TileLength { .. })
        ));
    }

    #[test]
    fn bundles() {
        let entries: Vec<Vec<u8>> = vec![vec![], vec![1], vec![0xab; 300]];
        let b = encode_bundle(&entries).expect("encode");
        assert_eq!(&b[..5], &[0, 0, 0, 1, 1]);
        assert_eq!(&b[5..7], &[0x01, 0x2c]);
        assert_eq!(b.len(), 2 + 3 + 302);
        let back = decode_bundle(&b, 3).expect("decode");
        assert_eq!(back, entries.iter().map(Vec::as_slice).collect::<Vec<_>>());
        assert!(matches!(
            decode_bundle(&b, 4),
            Err(Error::BundleWidth { got: 3, want: 4 })
        ));
        assert!(matches!(
            decode_bundle(&b[..b.len() - 1], 3),
            Err(Error::BundleTruncated { position: 2, .. })
        ));
        assert!(matches!(
            decode_bundle(&b[..6], 3),
            Err(Error::BundleTruncated { offset: 5, .. })
        ));
        assert_eq!(
            encode_bundle(&[vec![0u8; MAX_ENTRY_LEN]]).map(|b| b.len()),
            Ok(MAX_ENTRY_LEN + 2)
        );
        assert!(matches!(
            encode_bundle(&[vec![], vec![0u8; MAX_ENTRY_LEN + 1]]),
            Err(Error::EntryTooLong { position: 1, .. })
        ));
        assert!(matches!(
            encode_bundle::<Vec<u8>>(&[]),
            Err(Error::BundleCount { count: 0 })
        ));
        let too_many = vec![vec![7u8]; 257];
        assert!(encode_bundle(&too_many).is_err());
        let full = encode_bundle(&too_many[..256]).expect("256");
        let mut more = full.clone();
        more.extend_from_slice(&[0, 1, 7]);
        assert!(matches!(
            decode_bundle(&more, 256),
            Err(Error::BundleCount { count: 257 })
        ));
        assert_eq!(decode_bundle(&full, 256).expect("full").len(), 256);
    }
}
