//! Input text as Windows writes it, and errors that say where an input is
//! wrong.
//!
//! PowerShell's encodings differ by version and by how the output was
//! saved: Windows PowerShell 5.1 writes UTF-16LE with a BOM for `>` and
//! `Out-File`, UTF-8 with a BOM for `Out-File -Encoding utf8`; PowerShell 7
//! writes UTF-8 without a BOM. All of them end lines with CRLF. Every one is
//! accepted; line numbers count lines of the decoded text.

use std::fmt;
use std::path::Path;

/// A decoded input file.
pub struct Source {
    /// The path as given (labels errors and comments).
    pub path: String,
    /// The text without its BOM; CRLF kept (every parser accepts it).
    pub text: String,
}

/// Why an input is unusable, and where: `FILE:LINE:COLUMN`, `FILE:LINE`,
/// `FILE` or a flag and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// Where.
    pub place: String,
    /// What is wrong.
    pub message: String,
}

impl InputError {
    /// An error at a line (1-based) and column (1-based; 0 = unknown).
    pub fn at(path: &str, line: usize, column: usize, message: impl Into<String>) -> Self {
        let place = match (line, column) {
            (0, _) => path.to_string(),
            (l, 0) => format!("{path}:{l}"),
            (l, c) => format!("{path}:{l}:{c}"),
        };
        InputError {
            place,
            message: message.into(),
        }
    }

    /// An error in a whole file.
    pub fn file(path: &str, message: impl Into<String>) -> Self {
        Self::at(path, 0, 0, message)
    }

    /// An error in a flag's value: `--dpm-server dpm=x: …`.
    pub fn flag(flag: &str, value: &str, message: impl Into<String>) -> Self {
        InputError {
            place: format!("{flag} {value:?}"),
            message: message.into(),
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.place, self.message)
    }
}

impl std::error::Error for InputError {}

/// Reads and decodes a file.
pub fn read(path: &Path) -> Result<Source, InputError> {
    let label = path.display().to_string();
    let bytes =
        std::fs::read(path).map_err(|e| InputError::file(&label, format!("cannot read: {e}")))?;
    let text = decode(&bytes).map_err(|m| {
        let (line, column) = place(&bytes, &m);
        InputError::at(&label, line, column, m)
    })?;
    Ok(Source { path: label, text })
}

/// Line and column (1-based) of a decoding error: the first byte that is
/// not UTF-8 (its message names it, `byte N`), else the start.
fn place(bytes: &[u8], message: &str) -> (usize, usize) {
    let at = message
        .split_once("(byte ")
        .and_then(|(_, rest)| rest.split(')').next()?.parse::<usize>().ok());
    let Some(at) = at else {
        return (1, 1);
    };
    // `byte N` counts after a UTF-8 BOM.
    let body = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
    let before = String::from_utf8_lossy(&body[..at.min(body.len())]);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// UTF-8 (with or without a BOM) or UTF-16 with a BOM, to a string.
pub fn decode(bytes: &[u8]) -> Result<String, String> {
    let utf16 = |be: bool| {
        let units: Vec<u16> = bytes[2..]
            .chunks(2)
            .map(|c| {
                let pair = [c[0], *c.get(1).unwrap_or(&0)];
                if be {
                    u16::from_be_bytes(pair)
                } else {
                    u16::from_le_bytes(pair)
                }
            })
            .collect();
        String::from_utf16(&units).map_err(|_| "invalid UTF-16 text".to_string())
    };
    match bytes {
        [0xEF, 0xBB, 0xBF, rest @ ..] => utf8(rest),
        [0xFF, 0xFE, ..] => utf16(false),
        [0xFE, 0xFF, ..] => utf16(true),
        // UTF-16 without its BOM (a file cut or re-saved by hand): every
        // other byte of ASCII text is 0, which no text export has.
        [_, 0, ..] | [0, ..] => Err(
            "UTF-16 text without a byte-order mark (NUL bytes between its characters); save it with Out-File -Encoding utf8, or keep the BOM Windows PowerShell writes".into(),
        ),
        _ => utf8(bytes),
    }
}

fn utf8(bytes: &[u8]) -> Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|e| {
        format!(
            "not UTF-8 text (byte {}); save it with Out-File -Encoding utf8",
            e.utf8_error().valid_up_to()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn boms_and_utf16() {
        assert_eq!(decode(b"\xEF\xBB\xBF[1]\r\n").unwrap(), "[1]\r\n");
        let le: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("[ü]\r\n".encode_utf16().flat_map(|u| u.to_le_bytes()))
            .collect();
        assert_eq!(decode(&le).unwrap(), "[ü]\r\n");
        let be: Vec<u8> = [0xFE, 0xFF]
            .into_iter()
            .chain("x".encode_utf16().flat_map(|u| u.to_be_bytes()))
            .collect();
        assert_eq!(decode(&be).unwrap(), "x");
        assert!(decode(b"a\xFFb").unwrap_err().contains("byte 1"));
        let no_bom: Vec<u8> = "[1]".encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
        assert!(decode(&no_bom)
            .unwrap_err()
            .contains("without a byte-order mark"));
        let m = decode(b"[\r\n a\xFF]").unwrap_err();
        assert_eq!(super::place(b"[\r\n a\xFF]", &m), (2, 3));
    }
}
