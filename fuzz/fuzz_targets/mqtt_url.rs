//! The MQTT broker address (`mqtt.url`) through `vigil_config::parse_mqtt_url`: it may
//! refuse, never panic, and what it accepts is a host and a non-zero port that, written
//! back as `mqtt://host:port`, parse to the same broker.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(broker) = vigil_config::parse_mqtt_url(text) else {
        return;
    };
    assert!(!broker.host.is_empty() && broker.port != 0, "{broker:?}");
    let host = if broker.host.contains(':') {
        format!("[{}]", broker.host)
    } else {
        broker.host.clone()
    };
    let again = vigil_config::parse_mqtt_url(&format!("mqtt://{host}:{}", broker.port));
    assert_eq!(again.as_ref(), Ok(&broker), "{text:?}");
});
