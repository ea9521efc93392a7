//! Argon2 working areas mapped straight from the kernel, outside the allocator's heap: dropping
//! one unmaps it, so its pages leave the process at once (a freed heap block stays resident).
use std::ptr::NonNull;

use argon2::Block;

use crate::recovery::ports::HashError;

/// `blocks` argon2 blocks of zeroed, private, anonymous memory, owned alone.
pub(crate) struct Area {
    start: NonNull<Block>,
    blocks: usize,
}

// SAFETY: an `Area` is the only handle to its mapping (no aliasing), like a `Box<[Block]>`.
unsafe impl Send for Area {}

/// The error of an area of `blocks` KiB that could not be had.
pub(crate) fn unavailable(blocks: usize) -> HashError {
    HashError::Internal(format!("argon2 memory of {blocks} KiB unavailable"))
}

impl Area {
    /// Maps a fresh area; an error, not an abort, when the kernel refuses (a stored hash may name
    /// any memory cost).
    pub(crate) fn new(blocks: usize) -> Result<Area, HashError> {
        let unavailable = || unavailable(blocks);
        let bytes = blocks
            .checked_mul(std::mem::size_of::<Block>())
            .filter(|&b| b > 0)
            .ok_or_else(unavailable)?;
        // SAFETY: a new private anonymous mapping touches no existing memory; the result is
        // checked for MAP_FAILED before use.
        let start = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if start == libc::MAP_FAILED {
            return Err(unavailable());
        }
        // mmap returns page-aligned memory (Block needs 64 bytes) and never null on success.
        let start = NonNull::new(start.cast::<Block>()).ok_or_else(unavailable)?;
        Ok(Area { start, blocks })
    }

    pub(crate) fn blocks(&self) -> usize {
        self.blocks
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [Block] {
        // SAFETY: the mapping holds `blocks` page-aligned, zero-filled blocks (all-zero bytes are
        // a valid `Block`, an array of u64), lives as long as `self`, and `&mut self` makes this
        // the only reference to it.
        unsafe { std::slice::from_raw_parts_mut(self.start.as_ptr(), self.blocks) }
    }
}

impl Drop for Area {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `new` made, which nothing references any more.
        unsafe {
            libc::munmap(
                self.start.as_ptr().cast(),
                self.blocks * std::mem::size_of::<Block>(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size and resident bytes of the mapping that starts at `start`, from /proc (Linux).
    fn mapping_at(start: usize) -> Option<(usize, usize)> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut lines = smaps.lines();
        while let Some(line) = lines.next() {
            let Some((range, _)) = line.split_once(' ') else {
                continue;
            };
            let Some((from, to)) = range.split_once('-') else {
                continue;
            };
            let (Ok(from), Ok(to)) = (usize::from_str_radix(from, 16), usize::from_str_radix(to, 16)) else {
                continue;
            };
            if from != start {
                continue;
            }
            let rss = lines
                .find_map(|l| l.strip_prefix("Rss:"))
                .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
                .unwrap();
            return Some((to - from, rss * 1024));
        }
        None
    }

    #[test]
    fn an_area_is_zeroed_writable_and_leaves_the_process_when_dropped() {
        // An odd size no other test maps, so the mapping is surely this one.
        let blocks = 16 * 1024 + 3;
        let mut area = Area::new(blocks).unwrap();
        let start = area.start.as_ptr() as usize;
        assert_eq!(area.blocks(), blocks);
        let slice = area.as_mut_slice();
        assert_eq!(slice.len(), blocks);
        assert!(slice.iter().all(|b| b.as_ref().iter().all(|&w| w == 0)));
        for block in slice.iter_mut() {
            block.as_mut()[0] = 7;
        }
        let (size, resident) = mapping_at(start).expect("the area is mapped");
        assert_eq!(size, (blocks * 1024).div_ceil(4096) * 4096);
        assert_eq!(resident, size, "every written page is resident");
        drop(area);
        assert_ne!(
            mapping_at(start).map(|(size, _)| size),
            Some(size),
            "the area's pages left with it"
        );
    }

    #[test]
    fn an_impossible_size_is_an_error() {
        assert!(Area::new(usize::MAX / 2).is_err());
        assert!(Area::new(0).is_err());
    }
}
