//! Colour in text reports: the verdict word and the statuses only, so a
//! report reads the same without it. `--color auto` colours only a
//! terminal on standard output and follows NO_COLOR, CLICOLOR and
//! CLICOLOR_FORCE as anstream resolves them (https://no-color.org,
//! https://bixense.com/clicolors/); `--color always` wins over them, as
//! NO_COLOR asks of command-line flags.

use analyzer::policy::Status;
use analyzer::report::Verdict;
use anstyle::{AnsiColor, Style};

use crate::flags::ColorWhen;

/// Whether (and how) to colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paint {
    on: bool,
}

const GOOD: Style = AnsiColor::Green.on_default().bold();
const WARN: Style = AnsiColor::Yellow.on_default().bold();
const BAD: Style = AnsiColor::Red.on_default().bold();

impl Paint {
    /// The colouring `--color` asks for, writing to standard output
    /// (`to_stdout`) or to a file.
    pub fn new(when: ColorWhen, to_stdout: bool) -> Self {
        let on = match when {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            ColorWhen::Auto => {
                to_stdout
                    && anstream::AutoStream::choice(&std::io::stdout())
                        != anstream::ColorChoice::Never
            }
        };
        Paint { on }
    }

    fn paint(self, text: &str, style: Style) -> String {
        if self.on {
            format!("{style}{text}{style:#}")
        } else {
            text.to_string()
        }
    }

    /// A verdict word (`PASS`, `FAIL`, `INCONCLUSIVE`); `None` is ERROR.
    pub fn verdict(self, text: &str, v: Option<Verdict>) -> String {
        let style = match v {
            Some(Verdict::Pass) => GOOD,
            Some(Verdict::Inconclusive) => WARN,
            Some(Verdict::Fail) | None => BAD,
        };
        self.paint(text, style)
    }

    /// A status cell, already padded to its column.
    pub fn status(self, text: &str, s: Status) -> String {
        let style = match s {
            Status::Preferred => AnsiColor::Green.on_default(),
            Status::Fallback => WARN,
            Status::Violation => BAD,
        };
        self.paint(text, style)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_is_plain_and_on_wraps_in_sgr() {
        let off = Paint::new(ColorWhen::Never, true);
        assert_eq!(off.verdict("FAIL", Some(Verdict::Fail)), "FAIL");
        let on = Paint::new(ColorWhen::Always, false);
        assert_eq!(
            on.status("VIOLATION", Status::Violation),
            "\x1b[1m\x1b[31mVIOLATION\x1b[0m"
        );
    }
}
