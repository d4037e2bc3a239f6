//! Slices of a key or value that remember where they start, so problems can name a column.
//!
//! Pure. Every split happens on ASCII separators, so byte offsets always fall on character
//! boundaries; [`column`] turns a byte offset into the 1-based character column operators see.

/// A trimmed or split part of a larger text, with its byte offset in that text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Piece<'a> {
    /// The text of the part.
    pub(crate) text: &'a str,
    /// Byte offset of `text` in the whole key or value.
    pub(crate) offset: usize,
}

impl<'a> Piece<'a> {
    /// The whole text.
    pub(crate) fn whole(text: &'a str) -> Self {
        Piece { text, offset: 0 }
    }

    /// Without leading and trailing whitespace.
    pub(crate) fn trim(self) -> Self {
        let start = self.text.len() - self.text.trim_start().len();
        Piece {
            text: self.text.trim(),
            offset: self.offset + start,
        }
    }

    /// Whether the part is empty.
    pub(crate) fn is_empty(self) -> bool {
        self.text.is_empty()
    }

    /// The parts between `sep` characters (untrimmed).
    pub(crate) fn split(self, sep: char) -> Vec<Piece<'a>> {
        self.split_iter(sep).collect()
    }

    /// [`Piece::split`] one part at a time, without collecting them (a vector per value was
    /// a measurable share of parsing 10,000 keys).
    pub(crate) fn split_iter(self, sep: char) -> impl Iterator<Item = Piece<'a>> {
        let mut start = 0;
        self.text.split(sep).map(move |part| {
            let piece = self.sub(start, start + part.len());
            start += part.len() + sep.len_utf8();
            piece
        })
    }

    /// The parts separated by whitespace (empty parts dropped).
    pub(crate) fn words(self) -> Vec<Piece<'a>> {
        self.word_iter().collect()
    }

    /// [`Piece::words`] one at a time, without collecting them (the real-server list walks
    /// hundreds of thousands of items, and a vector per item was a tenth of its parse).
    pub(crate) fn word_iter(self) -> Words<'a> {
        Words { rest: self }
    }

    /// The parts before and after the first `sep`, if there is one.
    pub(crate) fn split_once(self, sep: char) -> Option<(Piece<'a>, Piece<'a>)> {
        let i = self.text.find(sep)?;
        Some((
            self.sub(0, i),
            self.sub(i + sep.len_utf8(), self.text.len()),
        ))
    }

    /// The parts before and after the last `sep`, if there is one.
    pub(crate) fn rsplit_once(self, sep: char) -> Option<(Piece<'a>, Piece<'a>)> {
        let i = self.text.rfind(sep)?;
        Some((
            self.sub(0, i),
            self.sub(i + sep.len_utf8(), self.text.len()),
        ))
    }

    /// The part from byte `start` to byte `end` of this piece.
    pub(crate) fn sub(self, start: usize, end: usize) -> Piece<'a> {
        Piece {
            text: &self.text[start..end],
            offset: self.offset + start,
        }
    }
}

/// The words of a [`Piece`], in order: see [`Piece::word_iter`].
#[derive(Debug, Clone)]
pub(crate) struct Words<'a> {
    /// The text not yet split.
    rest: Piece<'a>,
}

impl<'a> Iterator for Words<'a> {
    type Item = Piece<'a>;

    fn next(&mut self) -> Option<Piece<'a>> {
        let text = self.rest.text;
        let start = text.find(|c: char| !c.is_whitespace())?;
        // Words are mostly ASCII: look at bytes until the first non-ASCII one, and only then
        // decode characters (Unicode whitespace still splits). `char::from` of an ASCII byte
        // is that character, so both loops agree on what whitespace is.
        let ascii_end = text[start..]
            .bytes()
            .position(|b| !b.is_ascii() || char::from(b).is_whitespace())
            .map_or(text.len(), |n| start + n);
        let end = if text
            .as_bytes()
            .get(ascii_end)
            .is_some_and(|b| !b.is_ascii())
        {
            text[ascii_end..]
                .find(char::is_whitespace)
                .map_or(text.len(), |n| ascii_end + n)
        } else {
            ascii_end
        };
        let word = self.rest.sub(start, end);
        self.rest = self.rest.sub(end, text.len());
        Some(word)
    }
}

/// Turns byte offsets of one text into 1-based character columns, moving from the offset asked
/// last instead of counting from the start each time: a parser reports its problems in nearly
/// increasing order, so a value with thousands of problems costs one pass over it, not one
/// pass per problem (which made a 1 MiB value seconds of CPU).
#[derive(Debug, Default)]
pub(crate) struct ColumnCursor {
    /// Byte offset of the last answer (always a character boundary).
    byte: usize,
    /// Characters before `byte`.
    chars: usize,
    /// Bytes walked over so far (tests check that the walk stays linear).
    #[cfg(test)]
    pub(crate) walked: usize,
}

impl ColumnCursor {
    /// The column of byte `offset` in `whole` (an offset past the end or inside a character
    /// counts as the end, like [`column`]). Pass the same `whole` every time.
    pub(crate) fn column(&mut self, whole: &str, offset: usize) -> usize {
        let offset = if whole.is_char_boundary(offset) {
            offset
        } else {
            whole.len()
        };
        let (from, to) = (self.byte.min(offset), self.byte.max(offset));
        let between = whole.get(from..to).unwrap_or("");
        let n = between.chars().count();
        if offset >= self.byte {
            self.chars += n;
        } else {
            self.chars -= n;
        }
        self.byte = offset;
        #[cfg(test)]
        {
            self.walked += between.len();
        }
        self.chars + 1
    }
}

/// The 1-based character column of byte `offset` in `whole`.
pub(crate) fn column(whole: &str, offset: usize) -> usize {
    whole
        .get(..offset)
        .map_or_else(|| whole.chars().count(), |prefix| prefix.chars().count())
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The split iterator gives the parts `str::split` gives, at their offsets.
    #[test]
    fn split_iter_splits_like_str_split() {
        for text in ["", ",", "a", "a,b", ",a,,b,", "\u{e9},x"] {
            let parts: Vec<Piece<'_>> = Piece::whole(text)
                .sub(0, text.len())
                .split_iter(',')
                .collect();
            let texts: Vec<&str> = parts.iter().map(|p| p.text).collect();
            assert_eq!(texts, text.split(',').collect::<Vec<_>>(), "{text:?}");
            for p in parts {
                assert_eq!(&text[p.offset..p.offset + p.text.len()], p.text);
            }
        }
    }

    /// The word iterator splits like `str::split_whitespace` (Unicode whitespace too) and
    /// keeps offsets. Mutation: splitting on ASCII whitespace only fails on the no-break
    /// space.
    #[test]
    fn word_iter_splits_like_split_whitespace() {
        for text in [
            "",
            "  ",
            "a",
            " a  b\tc ",
            "x\u{a0}y \u{e9}t\u{e9}",
            "a\n\u{2003}b",
        ] {
            let words: Vec<Piece<'_>> = Piece::whole(text).word_iter().collect();
            let texts: Vec<&str> = words.iter().map(|w| w.text).collect();
            assert_eq!(
                texts,
                text.split_whitespace().collect::<Vec<_>>(),
                "{text:?}"
            );
            for w in words {
                assert_eq!(&text[w.offset..w.offset + w.text.len()], w.text);
            }
        }
    }

    #[test]
    fn split_and_trim_keep_offsets() {
        let whole = Piece::whole("a:80,  b:81 ;x");
        let parts = whole.split(',');
        assert_eq!(parts.len(), 2);
        let second = parts[1].trim();
        assert_eq!(second.text, "b:81 ;x");
        assert_eq!(second.offset, 7);
        let (left, right) = second.split_once(';').unwrap();
        assert_eq!(left.trim().text, "b:81");
        assert_eq!(right.offset, 13);
    }

    #[test]
    fn words_split_on_any_whitespace() {
        let w = Piece::whole(" a  b\tc ").words();
        let texts: Vec<_> = w.iter().map(|p| (p.text, p.offset)).collect();
        assert_eq!(texts, vec![("a", 1), ("b", 4), ("c", 6)]);
    }

    #[test]
    fn column_counts_characters_not_bytes() {
        assert_eq!(column("abc", 0), 1);
        assert_eq!(column("éa", 2), 2);
        assert_eq!(column("ab", 99), 3);
    }

    #[test]
    fn the_cursor_agrees_with_column_in_any_order() {
        let whole = "aé b, ü:80, x";
        let mut cursor = ColumnCursor::default();
        for offset in [0, 3, 1, 2, 99, 6, 0, whole.len(), 4] {
            assert_eq!(
                cursor.column(whole, offset),
                column(whole, offset),
                "offset {offset}"
            );
        }
    }

    /// Columns of problems reported in order cost one walk over the text. Mutation: counting
    /// from the start each time (the former `column` per problem) walks ~n²/2 bytes here.
    #[test]
    fn columns_asked_in_order_walk_the_text_once() {
        let whole = "é1.2.3.4:80, ".repeat(10_000);
        let mut cursor = ColumnCursor::default();
        let mut offset = 0;
        while offset < whole.len() {
            // Like a parser: an item's setting first, then (backwards) the item itself.
            cursor.column(&whole, offset + 9);
            assert_eq!(cursor.column(&whole, offset), offset - offset / 14 + 1);
            offset += 14;
        }
        assert!(
            cursor.walked <= 3 * whole.len(),
            "walked {} bytes for a {}-byte text",
            cursor.walked,
            whole.len()
        );
    }
}
