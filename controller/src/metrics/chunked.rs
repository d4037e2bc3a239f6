//! A writer that hands its bytes on in chunks of a fixed size, so a large body is produced
//! with one chunk of memory: the `/metrics` body is sent while it is written.

use std::io::{self, Write};
use std::mem;

use hyper::body::Bytes;

/// Size of the chunks handed on (the last one may be shorter).
pub(crate) const CHUNK_BYTES: usize = 64 * 1024;

/// Collects writes into a buffer and hands it to `sink` each time it holds [`CHUNK_BYTES`]
/// (and on `flush`). A chunk is never larger than [`CHUNK_BYTES`], however large a write.
pub(crate) struct ChunkWriter<F> {
    buf: Vec<u8>,
    sink: F,
}

impl<F: FnMut(Bytes) -> io::Result<()>> ChunkWriter<F> {
    /// An empty writer handing its chunks to `sink`.
    pub(crate) fn new(sink: F) -> Self {
        ChunkWriter {
            buf: Vec::with_capacity(CHUNK_BYTES),
            sink,
        }
    }

    fn hand_on(&mut self) -> io::Result<()> {
        let chunk = mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_BYTES));
        (self.sink)(Bytes::from(chunk))
    }
}

impl<F: FnMut(Bytes) -> io::Result<()>> Write for ChunkWriter<F> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK_BYTES - self.buf.len();
        let taken = room.min(data.len());
        self.buf.extend_from_slice(&data[..taken]);
        if self.buf.len() == CHUNK_BYTES {
            self.hand_on()?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.hand_on()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails if a large write becomes one oversized chunk or a byte is lost or reordered.
    #[test]
    fn chunks_are_at_most_the_chunk_size_and_keep_every_byte() {
        let mut chunks: Vec<Bytes> = Vec::new();
        let data: Vec<u8> = (0..(CHUNK_BYTES * 2 + 100)).map(|i| i as u8).collect();
        {
            let mut w = ChunkWriter::new(|c| {
                chunks.push(c);
                Ok(())
            });
            w.write_all(b"head").unwrap();
            w.write_all(&data).unwrap();
            w.flush().unwrap();
            w.flush().unwrap(); // nothing left: no empty chunk
        }
        assert!(
            chunks
                .iter()
                .all(|c| !c.is_empty() && c.len() <= CHUNK_BYTES)
        );
        assert_eq!(chunks.len(), 3);
        let joined: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
        assert_eq!(&joined[..4], b"head");
        assert_eq!(&joined[4..], &data[..]);
    }

    #[test]
    fn a_sink_error_stops_the_writer() {
        let mut w = ChunkWriter::new(|_| Err(io::Error::new(io::ErrorKind::BrokenPipe, "gone")));
        let err = w.write_all(&vec![0; CHUNK_BYTES]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }
}
