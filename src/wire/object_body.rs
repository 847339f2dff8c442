//! Request bodies are JSON objects. serde's derived struct visitor also reads a JSON array
//! as a struct (fields by position), so `[""]` would pass for `{"refreshToken": ""}`.
//! [`ObjectBody`] reads `T` only from a JSON object; anything else is a data error
//! ("invalid type: sequence, expected a JSON object"), which the extractors turn into 422.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// `T`, read from a JSON object only.
pub struct ObjectBody<T>(pub T);

impl<'de, T: DeserializeOwned> Deserialize<'de> for ObjectBody<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ObjectOnly<T>(PhantomData<T>);
        impl<'de, T: DeserializeOwned> Visitor<'de> for ObjectOnly<T> {
            type Value = T;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(ObjectOnly(PhantomData)).map(ObjectBody)
    }
}

#[cfg(test)]
mod tests {
    use super::ObjectBody;
    use serde::Deserialize;

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(rename_all = "camelCase")]
    struct Refresh {
        refresh_token: String,
    }

    fn read(json: &str) -> Result<Refresh, String> {
        serde_json::from_str::<ObjectBody<Refresh>>(json)
            .map(|b| b.0)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn an_object_is_read_as_usual() {
        assert_eq!(
            read(r#"{"refreshToken":"x"}"#).unwrap(),
            Refresh {
                refresh_token: "x".into()
            }
        );
        assert!(read("{}")
            .unwrap_err()
            .contains("missing field `refreshToken`"));
    }

    #[test]
    fn an_array_that_serde_would_read_by_position_is_refused() {
        // Without the wrapper serde accepts this as a one-field struct.
        assert!(serde_json::from_str::<Refresh>(r#"[""]"#).is_ok());
        let e = read(r#"[""]"#).unwrap_err();
        assert!(e.contains("expected a JSON object"), "{e}");
        assert!(read("\"x\"").is_err());
        assert!(read("null").is_err());
    }
}
