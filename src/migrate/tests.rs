use super::*;

#[test]
fn only_items_off_their_new_shard_move_and_keep_their_state() {
    let id = "sensor-42";
    let under_16 = status_partition(Presence::Connected, shard_of(id, 16));
    let under_64 = status_partition(Presence::Connected, shard_of(id, 64));
    assert_eq!(target_shard(id, &under_64, 64), Some(None));
    if under_16 != under_64 {
        assert_eq!(
            target_shard(id, &under_16, 64),
            Some(Some(under_64.clone()))
        );
    }
    let offline = status_partition(Presence::Disconnected, 3);
    let moved = target_shard(id, &offline, 64).flatten().unwrap_or(offline);
    assert!(moved.starts_with("disconnected#"), "{moved}");
    assert_eq!(target_shard(id, "garbage", 64), None);
}

#[test]
fn a_re_key_costs_the_item_and_two_status_index_entries_and_its_alert_entry() {
    let item = |pairs: &[(&str, AttributeValue)]| -> Item {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    };
    let text = |v: &str| AttributeValue::S(v.to_owned());
    let num = |v: &str| AttributeValue::N(v.to_owned());
    let small = item(&[
        (attr::CLIENT_ID, text("c-1")),
        (attr::STATUS_SHARD, text("connected#03")),
        (attr::EVENT_TIMESTAMP, num("1790000000000")),
    ]);
    let units = rekey_write_units(&small, "connected#41");
    assert_eq!(
        (units.table, units.status_index, units.alert_index),
        (1.0, 2.0, 0.0)
    );
    // 1.5 KB the index does not project: the table pays for it, the index entries do not.
    let mut padded = small.clone();
    padded.insert("padding".into(), text(&"x".repeat(1500)));
    let units = rekey_write_units(&padded, "connected#41");
    assert_eq!(
        (units.table, units.status_index, units.alert_index),
        (2.0, 2.0, 0.0)
    );
    // A projected attribute over 1 KB: both entries are 2 units; in the alert index too.
    let mut named = small.clone();
    named.insert(attr::THING_NAME.into(), text(&"t".repeat(1100)));
    named.insert(attr::ALERT_SHARD.into(), text("alert#01"));
    named.insert(attr::ALERT_DUE_AT.into(), num("1790000060000"));
    let units = rekey_write_units(&named, "connected#41");
    assert_eq!(
        (units.table, units.status_index, units.alert_index),
        (2.0, 4.0, 2.0)
    );
    assert_eq!(units.total(), 8.0);
    // Not in the status index without its sort key.
    let mut keyless = small;
    keyless.remove(attr::EVENT_TIMESTAMP);
    assert_eq!(
        rekey_write_units(&keyless, "connected#41").status_index,
        0.0
    );
}
