//! OTLP/HTTP body handling: content type, `Content-Encoding`, the size limit (enforced on the
//! decompressed size, so a small gzip bomb cannot expand past it), protobuf and JSON decoding of
//! any OTLP export request (traces, logs).

use std::borrow::Cow;
use std::io::Read;

use prost::Message;
use serde::de::DeserializeOwned;

use crate::error::IngestError;

/// The request's encoding, which is also the response's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    /// Maps a `Content-Type` (parameters and case ignored) to an OTLP encoding.
    pub fn from_content_type(content_type: Option<&str>) -> Result<Self, IngestError> {
        let essence = content_type
            .and_then(|value| value.split(';').next())
            .map(|value| value.trim().to_ascii_lowercase());
        match essence.as_deref() {
            Some("application/x-protobuf") | Some("application/protobuf") => Ok(Self::Protobuf),
            Some("application/json") => Ok(Self::Json),
            _ => Err(IngestError::UnsupportedMediaType(
                "Content-Type must be application/x-protobuf or application/json".into(),
            )),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Protobuf => "application/x-protobuf",
            Self::Json => "application/json",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Protobuf => "protobuf",
            Self::Json => "json",
        }
    }
}

/// Undoes `Content-Encoding` (gzip, zstd, deflate, identity), refusing output over `limit`.
/// An identity body is borrowed, not copied.
pub fn decompress<'a>(
    body: &'a [u8],
    content_encoding: Option<&str>,
    limit: usize,
) -> Result<Cow<'a, [u8]>, IngestError> {
    let encoding = content_encoding.map(|value| value.trim().to_ascii_lowercase());
    let reader: Box<dyn Read + '_> = match encoding.as_deref() {
        None | Some("") | Some("identity") => {
            if body.len() > limit {
                return Err(IngestError::PayloadTooLarge { limit });
            }
            return Ok(Cow::Borrowed(body));
        }
        Some("gzip") | Some("x-gzip") => Box::new(flate2::read::GzDecoder::new(body)),
        // HTTP "deflate" is the zlib format; some clients send raw deflate, so accept both.
        Some("deflate") if has_zlib_header(body) => Box::new(flate2::read::ZlibDecoder::new(body)),
        Some("deflate") => Box::new(flate2::read::DeflateDecoder::new(body)),
        Some("zstd") => Box::new(
            zstd::stream::read::Decoder::new(body)
                .map_err(|_| IngestError::BadRequest("invalid zstd body".into()))?,
        ),
        Some(other) => {
            return Err(IngestError::UnsupportedMediaType(format!(
                "unsupported Content-Encoding `{other}`: use gzip, zstd, deflate or identity"
            )));
        }
    };
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|error| {
            IngestError::BadRequest(format!("could not decompress the body: {error}"))
        })?;
    if out.len() > limit {
        return Err(IngestError::PayloadTooLarge { limit });
    }
    Ok(Cow::Owned(out))
}

/// RFC 1950 header check: compression method 8 and a header checksum divisible by 31.
fn has_zlib_header(body: &[u8]) -> bool {
    matches!(body, [cmf, flg, ..] if cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0)
}

/// Decodes an OTLP export request (`ExportTraceServiceRequest`, `ExportLogsServiceRequest`) in
/// the given encoding.
pub fn decode_request<R: Message + Default + DeserializeOwned>(
    body: &[u8],
    encoding: Encoding,
) -> Result<R, IngestError> {
    match encoding {
        Encoding::Protobuf => R::decode(body)
            .map_err(|error| IngestError::BadRequest(format!("invalid OTLP protobuf: {error}"))),
        Encoding::Json => serde_json::from_slice(body).or_else(|error| {
            lenient_json(body)
                .ok_or_else(|| IngestError::BadRequest(format!("invalid OTLP JSON: {error}")))
        }),
    }
}

/// Second chance for OTLP/JSON that strict proto3 decoding refused but whose meaning is clear:
/// `doubleValue` as a string (proto3 JSON allows it; e.g. `"0.000151"`), and enum names instead
/// of numbers for span `kind`, status `code` and log `severityNumber`. Only runs after a failed
/// strict decode, so well-formed traffic pays nothing for it.
fn lenient_json<R: DeserializeOwned>(body: &[u8]) -> Option<R> {
    fn fix(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, child) in map.iter_mut() {
                    match (key.as_str(), &*child) {
                        ("doubleValue", serde_json::Value::String(text)) => {
                            if let Some(number) = text
                                .trim()
                                .parse::<f64>()
                                .ok()
                                .and_then(serde_json::Number::from_f64)
                            {
                                *child = serde_json::Value::Number(number);
                            }
                        }
                        ("kind", serde_json::Value::String(name)) => {
                            const KINDS: [&str; 6] = [
                                "UNSPECIFIED",
                                "INTERNAL",
                                "SERVER",
                                "CLIENT",
                                "PRODUCER",
                                "CONSUMER",
                            ];
                            let name = name.trim_start_matches("SPAN_KIND_");
                            if let Some(index) =
                                KINDS.iter().position(|k| k.eq_ignore_ascii_case(name))
                            {
                                *child = serde_json::Value::from(index);
                            }
                        }
                        ("code", serde_json::Value::String(name)) => {
                            const CODES: [&str; 3] = ["UNSET", "OK", "ERROR"];
                            let name = name.trim_start_matches("STATUS_CODE_");
                            if let Some(index) =
                                CODES.iter().position(|c| c.eq_ignore_ascii_case(name))
                            {
                                *child = serde_json::Value::from(index);
                            }
                        }
                        ("severityNumber", serde_json::Value::String(name)) => {
                            if let Some(number) = severity_number(name) {
                                *child = serde_json::Value::from(number);
                            }
                        }
                        _ => fix(child),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(fix),
            _ => {}
        }
    }
    let mut value: serde_json::Value = serde_json::from_slice(body).ok()?;
    fix(&mut value);
    serde_json::from_value(value).ok()
}

/// `SEVERITY_NUMBER_WARN2` → 14 (OTLP log data model: TRACE 1–4, DEBUG 5–8, INFO 9–12, WARN
/// 13–16, ERROR 17–20, FATAL 21–24).
fn severity_number(name: &str) -> Option<u8> {
    const LEVELS: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
    let name = name
        .trim_start_matches("SEVERITY_NUMBER_")
        .to_ascii_uppercase();
    if name == "UNSPECIFIED" {
        return Some(0);
    }
    let level = LEVELS.iter().position(|l| name.starts_with(l))?;
    let step: u8 = match &name[LEVELS[level].len()..] {
        "" => 1,
        digit => digit.parse().ok().filter(|d| (2..=4).contains(d))?,
    };
    Some(level as u8 * 4 + step)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

    use super::*;

    #[test]
    fn gzip_bomb_is_stopped_at_the_limit() {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(&vec![0u8; 1 << 20]).unwrap();
        let compressed = encoder.finish().unwrap();
        assert!(compressed.len() < 10_000);
        let error = decompress(&compressed, Some("gzip"), 64 * 1024).unwrap_err();
        assert!(matches!(error, IngestError::PayloadTooLarge { .. }));
        assert_eq!(
            decompress(&compressed, Some("gzip"), 1 << 20)
                .unwrap()
                .len(),
            1 << 20
        );
    }

    #[test]
    fn deflate_accepts_zlib_and_raw() {
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        zlib.write_all(b"hello").unwrap();
        assert_eq!(
            decompress(&zlib.finish().unwrap(), Some("deflate"), 100).unwrap(),
            &b"hello"[..]
        );
        let mut raw =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        raw.write_all(b"hello").unwrap();
        assert_eq!(
            decompress(&raw.finish().unwrap(), Some("deflate"), 100).unwrap(),
            &b"hello"[..]
        );
    }

    #[test]
    fn json_double_strings_and_enum_names_are_accepted() {
        let body = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0af7651916cd43dd8448eb211c80319c",
            "spanId":"b7ad6b7169203331","name":"s","kind":"SPAN_KIND_CLIENT","status":{"code":"STATUS_CODE_ERROR"},
            "attributes":[{"key":"cost","value":{"doubleValue":"0.000151"}}]}]}]}]}"#;
        let request: ExportTraceServiceRequest = decode_request(body, Encoding::Json).unwrap();
        let span = &request.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.kind, 3);
        assert_eq!(span.status.as_ref().unwrap().code, 2);
        let value = span.attributes[0]
            .value
            .as_ref()
            .unwrap()
            .value
            .as_ref()
            .unwrap();
        assert_eq!(
            *value,
            opentelemetry_proto::tonic::common::v1::any_value::Value::DoubleValue(0.000151)
        );
        assert!(
            decode_request::<ExportTraceServiceRequest>(b"{\"resourceSpans\": 1}", Encoding::Json)
                .is_err()
        );
    }

    #[test]
    fn log_severity_names_are_accepted() {
        let body = br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityNumber":"SEVERITY_NUMBER_WARN2",
            "eventName":"e","body":{"stringValue":"x"}}]}]}]}"#;
        let request: ExportLogsServiceRequest = decode_request(body, Encoding::Json).unwrap();
        let record = &request.resource_logs[0].scope_logs[0].log_records[0];
        assert_eq!(record.severity_number, 14);
        assert_eq!(record.event_name, "e");
        assert_eq!(severity_number("ERROR"), Some(17));
        assert_eq!(severity_number("SEVERITY_NUMBER_UNSPECIFIED"), Some(0));
        assert_eq!(severity_number("LOUD"), None);
    }

    #[test]
    fn content_types() {
        assert_eq!(
            Encoding::from_content_type(Some("Application/JSON; charset=utf-8")).unwrap(),
            Encoding::Json
        );
        assert_eq!(
            Encoding::from_content_type(Some("application/x-protobuf")).unwrap(),
            Encoding::Protobuf
        );
        assert!(Encoding::from_content_type(Some("text/plain")).is_err());
        assert!(Encoding::from_content_type(None).is_err());
    }
}
