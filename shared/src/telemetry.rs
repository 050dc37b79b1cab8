//! Logging: readable text for local runs, JSON lines in containers.
//!
//! The JSON lines are written by [`JsonLines`] rather than tracing-subscriber's own JSON
//! formatter, which stores each span's fields as a JSON text and parses it back (twice, for
//! `span` and `spans`) into a tree of allocated values for every event; with a line per RPC
//! that was about a tenth of a service's CPU. [`JsonLines`] writes the same object straight
//! into the line buffer and splices the spans' fields, rendered once when the span is created
//! (by [`JsonFields`]), as they are. Its timestamp renders the date and time of day once per
//! second ([`Timestamp`]).

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::span::Record;
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::{LookupSpan, Scope, SpanRef};

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable, for a terminal.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Installs the global subscriber; `RUST_LOG` filters (default `info`). Calling it twice is harmless.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Logs go to stderr, so command output on stdout (`migrate status`) stays clean.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.fmt_fields(JsonFields).event_format(JsonLines).try_init(),
    };
}

/// One JSON object per event, shaped like tracing-subscriber's JSON format with
/// `flatten_event(true)`: `timestamp`, `level`, the event's fields (`message` among them),
/// `target`, then the innermost span as `span` and every span, outermost first, as `spans`
/// (each with its fields and its `name`).
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonLines;

impl<S> FormatEvent<S, JsonFields> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        writer.write_str("{\"timestamp\":\"")?;
        Timestamp.format_time(&mut writer)?;
        write!(writer, "\",\"level\":\"{}\"", meta.level())?;
        let mut visitor = JsonVisitor::new(&mut writer, true);
        event.record(&mut visitor);
        let JsonVisitor { result, log_target, .. } = visitor;
        result?;
        writer.write_str(",\"target\":")?;
        // Events bridged from the `log` crate name their real target in a field.
        write_json_str(&mut writer, log_target.as_deref().unwrap_or(meta.target()))?;
        // The scope runs from the innermost span out; walking it twice costs two lookups per
        // span and no allocation.
        if let Some(innermost) = ctx.event_scope().and_then(|mut scope| scope.next()) {
            writer.write_str(",\"span\":")?;
            write_span(&mut writer, &innermost)?;
            writer.write_str(",\"spans\":[")?;
            for (index, span) in ctx.event_scope().into_iter().flat_map(Scope::from_root).enumerate() {
                if index > 0 {
                    writer.write_char(',')?;
                }
                write_span(&mut writer, &span)?;
            }
            writer.write_char(']')?;
        }
        writer.write_str("}\n")
    }
}

/// The time of an event in UTC with microseconds, as tracing-subscriber's `SystemTime` writes it
/// (`2026-12-07T02:30:00.123456Z`). The date and time of day are rendered once per second and
/// thread and reused: a calendar conversion and eight formatted numbers on every line were a
/// tenth of a log line's cost.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timestamp;

impl FormatTime for Timestamp {
    fn format_time(&self, writer: &mut Writer<'_>) -> fmt::Result {
        write_timestamp(writer, SystemTime::now())
    }
}

/// `time` as [`Timestamp`] writes it (a clock before 1970 reads as 1970).
fn write_timestamp(out: &mut dyn fmt::Write, time: SystemTime) -> fmt::Result {
    thread_local! {
        /// The second last rendered on this thread, and its text up to the seconds.
        static SECOND: RefCell<(u64, String)> = const { RefCell::new((0, String::new())) };
    }
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs();
    SECOND.with_borrow_mut(|(rendered, text)| {
        if *rendered != seconds || text.is_empty() {
            text.clear();
            let date_time = i64::try_from(seconds)
                .ok()
                .and_then(|seconds| chrono::DateTime::from_timestamp(seconds, 0))
                .unwrap_or_default();
            write!(text, "{}", date_time.format("%Y-%m-%dT%H:%M:%S"))?;
            *rendered = seconds;
        }
        out.write_str(text)
    })?;
    let mut fraction = *b".000000Z";
    let mut micros = since_epoch.subsec_micros();
    for digit in fraction[1..7].iter_mut().rev() {
        *digit = b'0' + (micros % 10) as u8;
        micros /= 10;
    }
    out.write_str(std::str::from_utf8(&fraction).map_err(|_| fmt::Error)?)
}

/// `{<fields>,"name":"<span name>"}`.
fn write_span<S>(writer: &mut Writer<'_>, span: &SpanRef<'_, S>) -> fmt::Result
where
    S: for<'a> LookupSpan<'a>,
{
    writer.write_char('{')?;
    let extensions = span.extensions();
    if let Some(fields) = extensions.get::<FormattedFields<JsonFields>>().filter(|fields| !fields.is_empty()) {
        writer.write_str(fields)?;
        writer.write_char(',')?;
    }
    writer.write_str("\"name\":")?;
    write_json_str(writer, span.metadata().name())?;
    writer.write_char('}')
}

/// Renders a span's fields once, as the members of a JSON object without the braces
/// (`"key":value,…`), which [`JsonLines`] splices into every event inside the span.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonFields;

impl<'writer> FormatFields<'writer> for JsonFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = JsonVisitor::new(&mut writer, false);
        fields.record(&mut visitor);
        visitor.result
    }

    fn add_fields(&self, current: &'writer mut FormattedFields<Self>, fields: &Record<'_>) -> fmt::Result {
        let comma = !current.fields.is_empty();
        let mut visitor = JsonVisitor::new(&mut current.fields, comma);
        fields.record(&mut visitor);
        visitor.result
    }
}

/// Writes each field as `"name":value`, separated by commas.
struct JsonVisitor<'a> {
    out: &'a mut dyn fmt::Write,
    /// Whether the next member needs a comma before it.
    comma: bool,
    result: fmt::Result,
    log_target: Option<String>,
}

impl<'a> JsonVisitor<'a> {
    fn new(out: &'a mut dyn fmt::Write, comma: bool) -> Self {
        Self { out, comma, result: Ok(()), log_target: None }
    }

    /// Writes `"name":` and then the value with `value`.
    fn member(&mut self, field: &Field, value: impl FnOnce(&mut dyn fmt::Write) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        let out = &mut *self.out;
        self.result = (|| {
            // `write_json_str` with the comma and colon joined to the quotes: three writes, not
            // five, for every member of every line.
            out.write_str(if self.comma { ",\"" } else { "\"" })?;
            JsonEscaped(out).write_str(field.name())?;
            out.write_str("\":")?;
            value(out)
        })();
        self.comma = true;
    }
}

impl Visit for JsonVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        // As serde_json: a number when finite, else null.
        self.member(field, |out| if value.is_finite() { write!(out, "{value:?}") } else { out.write_str("null") });
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field, |out| write!(out, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field, |out| write!(out, "{value}"));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.member(field, |out| write!(out, "{value}"));
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.member(field, |out| write!(out, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field, |out| write!(out, "{value}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "log.target" {
            self.log_target = Some(value.to_owned());
        }
        self.member(field, |out| write_json_str(out, value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.member(field, |out| write_json_display(out, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.member(field, |out| {
            out.write_char('"')?;
            write!(JsonEscaped(out), "{value:?}")?;
            out.write_char('"')
        });
    }
}

/// `text` as a JSON string, quotes included.
fn write_json_str(out: &mut dyn fmt::Write, text: &str) -> fmt::Result {
    out.write_char('"')?;
    JsonEscaped(out).write_str(text)?;
    out.write_char('"')
}

/// `value`'s `Display` as a JSON string, quotes included.
fn write_json_display(out: &mut dyn fmt::Write, value: &dyn fmt::Display) -> fmt::Result {
    out.write_char('"')?;
    write!(JsonEscaped(out), "{value}")?;
    out.write_char('"')
}

/// Whether `text` has a byte that JSON escapes inside a string. The scan goes 16 bytes at a time
/// with no early exit inside a block, which the compiler turns into vector instructions.
fn needs_escape(text: &str) -> bool {
    let escaped = |byte: u8| byte < 0x20 || byte == b'"' || byte == b'\\';
    let mut blocks = text.as_bytes().chunks_exact(16);
    blocks.by_ref().any(|block| block.iter().fold(false, |found, &byte| found | escaped(byte)))
        || blocks.remainder().iter().any(|&byte| escaped(byte))
}

/// Escapes what is written through it for the inside of a JSON string (as serde_json does).
struct JsonEscaped<'a>(&'a mut dyn fmt::Write);

impl fmt::Write for JsonEscaped<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        // Almost every text needs no escape: one scan, one write.
        if !needs_escape(text) {
            return self.0.write_str(text);
        }
        let mut plain_from = 0;
        for (index, byte) in text.bytes().enumerate() {
            let escape = match byte {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0x08 => "\\b",
                0x0c => "\\f",
                0x00..=0x1f => "",
                _ => continue,
            };
            self.0.write_str(&text[plain_from..index])?;
            if escape.is_empty() {
                write!(self.0, "\\u{byte:04x}")?;
            } else {
                self.0.write_str(escape)?;
            }
            plain_from = index + 1;
        }
        self.0.write_str(&text[plain_from..])
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// The lines `emit` logs through [`JsonLines`].
    fn json_lines(emit: impl FnOnce()) -> String {
        #[derive(Clone)]
        struct Capture(Arc<Mutex<Vec<u8>>>);
        impl io::Write for Capture {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let captured = Capture(Arc::new(Mutex::new(Vec::new())));
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .fmt_fields(JsonFields)
            .event_format(JsonLines)
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        String::from_utf8(captured.0.lock().unwrap().clone()).unwrap()
    }

    /// The line without its timestamp, which changes.
    fn without_timestamp(line: &str) -> &str {
        let rest = line.strip_prefix("{\"timestamp\":\"").expect("starts with the timestamp");
        &rest[rest.find('"').expect("the timestamp ends") + 2..]
    }

    #[test]
    fn an_event_is_one_json_object_with_its_fields_and_spans() {
        let lines = json_lines(|| {
            let span = tracing::info_span!("rpc", rpc.method = %"Get", peer = %"127.0.0.1:9");
            let _inside = span.enter();
            let inner = tracing::info_span!("inner", step = 2);
            let _deeper = inner.enter();
            tracing::info!(grpc.code = ?tonic_like::Code::Ok, elapsed_ms = 1.5, ok = true, "rpc \"finished\"");
        });
        let lines: Vec<&str> = lines.lines().collect();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(
            without_timestamp(lines[0]),
            r#""level":"INFO","message":"rpc \"finished\"","grpc.code":"Ok","elapsed_ms":1.5,"ok":true,"target":"shared::telemetry::tests","span":{"step":2,"name":"inner"},"spans":[{"rpc.method":"Get","peer":"127.0.0.1:9","name":"rpc"},{"step":2,"name":"inner"}]}"#
        );
    }

    #[test]
    fn an_event_outside_spans_and_fields_recorded_later_stay_valid_json() {
        let lines = json_lines(|| {
            tracing::warn!(error = %"disk\nfull", "alone");
            let span = tracing::info_span!("late", first = 1, second = tracing::field::Empty);
            span.record("second", "two");
            span.in_scope(|| tracing::info!("inside"));
        });
        let lines: Vec<&str> = lines.lines().collect();
        assert_eq!(
            without_timestamp(lines[0]),
            r#""level":"WARN","message":"alone","error":"disk\nfull","target":"shared::telemetry::tests"}"#
        );
        assert!(
            lines[1].ends_with(
                r#""span":{"first":1,"second":"two","name":"late"},"spans":[{"first":1,"second":"two","name":"late"}]}"#
            ),
            "{}",
            lines[1]
        );
    }

    /// A stand-in for a status code, logged with `?` as the RPC layer logs `tonic::Code`.
    mod tonic_like {
        #[derive(Debug)]
        pub enum Code {
            Ok,
        }
    }

    #[test]
    fn timestamps_are_utc_with_microseconds_across_seconds_and_clock_steps() {
        use std::time::Duration;
        let written = |time: SystemTime| {
            let mut out = String::new();
            write_timestamp(&mut out, time).unwrap();
            out
        };
        let known = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
        assert_eq!(written(known), "2023-11-14T22:13:20.123456Z");
        let last_micro = UNIX_EPOCH + Duration::from_micros(1_700_000_000_999_999);
        let moments = [
            last_micro,
            last_micro + Duration::from_micros(1),
            last_micro + Duration::from_micros(7),
            known,
            known + Duration::from_secs(86_400 * 400),
            UNIX_EPOCH,
        ];
        for time in moments {
            let expected =
                chrono::DateTime::<chrono::Utc>::from(time).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            assert_eq!(written(time), expected);
        }
        assert_eq!(written(UNIX_EPOCH - Duration::from_secs(1)), "1970-01-01T00:00:00.000000Z");
    }

    fn escaped(text: &str) -> String {
        let mut out = String::new();
        write_json_str(&mut out, text).unwrap();
        out
    }

    #[test]
    fn strings_are_escaped_as_json() {
        assert_eq!(escaped("plain"), r#""plain""#);
        assert_eq!(escaped("a \"quote\" and \\ back"), r#""a \"quote\" and \\ back""#);
        assert_eq!(escaped("line\nbreak\ttab\u{1}"), r#""line\nbreak\ttab\u0001""#);
        assert_eq!(escaped("ünïcødé ✓"), "\"ünïcødé ✓\"");
        // Past the first 16-byte block, and in the remainder after the last one.
        assert_eq!(escaped("0123456789abcdef0123\"5"), r#""0123456789abcdef0123\"5""#);
        assert_eq!(escaped("0123456789abcdef0123456789abcde\n"), r#""0123456789abcdef0123456789abcde\n""#);
        assert_eq!(escaped("0123456789abcdef0123456789abcdef\\"), r#""0123456789abcdef0123456789abcdef\\""#);
    }
}
