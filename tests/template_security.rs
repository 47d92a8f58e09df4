//! The template's security and operations guarantees, checked on the parsed template
//! (presence-template: CloudFormation short tags such as `!Ref` stay tagged values): forged
//! events, logs, alarms, TLS, people's policies, deploy defaults.

use iot_presence::alert::pass::LEASE_MS;
use presence_template::{intrinsic, reference, Template, Value};

/// The parsed template (presence-template) as a document: these checks walk policies and
/// alarms, which have no typed view.
fn template() -> Value {
    Template::repository().root().clone()
}

fn of_type(t: &Value, kind: &str) -> Vec<(String, Value)> {
    t["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .map(|(k, v)| (k.as_str().unwrap().to_owned(), v.clone()))
        .collect()
}

/// The tag (`Ref`, `GetAtt`, `Sub`, `If`, ...) of an intrinsic, and its argument.
fn tagged(v: &Value) -> Option<(String, &Value)> {
    intrinsic(v).map(|(tag, target)| (tag.to_owned(), target))
}

fn sub(v: &Value) -> &str {
    presence_template::sub(v).unwrap_or_else(|| panic!("not a !Sub: {v:?}"))
}

fn statements(policy_document: &Value) -> Vec<Value> {
    policy_document["Statement"].as_sequence().unwrap().clone()
}

fn as_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Sequence(s) => s.clone(),
        other => vec![other.clone()],
    }
}

#[test]
fn the_rule_has_a_fixed_name_and_its_error_role_trusts_only_that_rule() {
    let t = template();
    assert_eq!(
        t["Parameters"]["RuleName"]["Default"],
        "iot_presence_lifecycle"
    );
    let rule = &t["Resources"]["PresenceTopicRule"]["Properties"];
    assert_eq!(reference(&rule["RuleName"]), Some("RuleName"));
    let trust =
        statements(&t["Resources"]["RuleErrorRole"]["Properties"]["AssumeRolePolicyDocument"]);
    assert_eq!(trust.len(), 1);
    let condition = &trust[0]["Condition"];
    assert_eq!(
        reference(&condition["StringEquals"]["aws:SourceAccount"]),
        Some("AWS::AccountId")
    );
    assert_eq!(
        sub(&condition["ArnEquals"]["aws:SourceArn"]),
        "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:rule/${RuleName}"
    );
}

#[test]
fn devices_can_be_denied_publishing_to_the_rule_through_basic_ingest() {
    let t = template();
    let basic_ingest =
        "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:topic/$aws/rules/${RuleName}/*";
    let policy = &t["Resources"]["BasicIngestDenyPolicy"];
    assert_eq!(policy["Type"], "AWS::IoT::Policy");
    assert_eq!(policy["Condition"], "CreateDenyPolicy");
    let s = statements(&policy["Properties"]["PolicyDocument"]);
    assert_eq!(
        (s[0]["Effect"].as_str(), s[0]["Action"].as_str()),
        (Some("Deny"), Some("iot:Publish"))
    );
    assert_eq!(sub(&s[0]["Resource"]), basic_ingest);
    // The same statement as an output, valid JSON, for accounts that attach their own policies.
    let output = sub(&t["Outputs"]["BasicIngestDenyStatement"]["Value"]);
    let statement: serde_json::Value = serde_json::from_str(output).unwrap();
    assert_eq!(statement["Effect"], "Deny");
    assert_eq!(statement["Action"], "iot:Publish");
    assert_eq!(statement["Resource"], basic_ingest);
    assert_eq!(
        t["Parameters"]["CreateBasicIngestDenyPolicy"]["Default"],
        "true"
    );
}

#[test]
fn every_function_logs_to_a_declared_group_with_a_retention() {
    let t = template();
    let functions = of_type(&t, "AWS::Serverless::Function");
    assert!(functions.len() >= 2);
    for (name, function) in functions {
        let logging = &function["Properties"]["LoggingConfig"];
        let group = reference(&logging["LogGroup"])
            .unwrap_or_else(|| panic!("{name} has no LoggingConfig.LogGroup"));
        let group = &t["Resources"][group];
        assert_eq!(group["Type"], "AWS::Logs::LogGroup", "{name}");
        assert_eq!(
            reference(&group["Properties"]["RetentionInDays"]),
            Some("LogRetentionDays"),
            "{name}"
        );
        assert_eq!(logging["LogFormat"], "JSON", "{name}");
    }
    let retention = &t["Parameters"]["LogRetentionDays"];
    assert_eq!(retention["Default"], 30);
    assert!(retention["AllowedValues"]
        .as_sequence()
        .unwrap()
        .contains(&Value::from(30)));
}

#[test]
fn every_alarm_notifies_the_operations_topic_unless_another_is_given() {
    let t = template();
    let alarms = of_type(&t, "AWS::CloudWatch::Alarm");
    assert!(alarms.len() >= 7, "{}", alarms.len());
    for (name, alarm) in &alarms {
        let actions = alarm["Properties"]["AlarmActions"].as_sequence().unwrap();
        assert_eq!(actions.len(), 1, "{name}");
        let (tag, choice) = tagged(&actions[0]).unwrap();
        assert_eq!(tag, "If", "{name}");
        let choice = choice.as_sequence().unwrap();
        assert_eq!(choice[0], "HasAlarmTopic", "{name}");
        assert_eq!(reference(&choice[1]), Some("AlarmTopicArn"), "{name}");
        assert_eq!(reference(&choice[2]), Some("OpsTopic"), "{name}");
    }
    let topic = &t["Resources"]["OpsTopic"];
    assert_eq!(topic["Condition"], "CreateOpsTopic");
    // CloudWatch cannot publish to a topic under the aws/sns key.
    assert!(topic["Properties"].get("KmsMasterKeyId").is_none());
    let policy = statements(&t["Resources"]["OpsTopicPolicy"]["Properties"]["PolicyDocument"]);
    assert!(policy.iter().any(|s| s["Effect"] == "Allow"
        && s["Principal"]["Service"] == "cloudwatch.amazonaws.com"
        && s["Action"] == "sns:Publish"));
}

#[test]
fn the_alerter_error_alarm_fires_on_one_failure_per_lease() {
    let t = template();
    let alarm = &t["Resources"]["AlerterErrorsAlarm"]["Properties"];
    assert_eq!(alarm["DatapointsToAlarm"], 1);
    assert_eq!(alarm["EvaluationPeriods"], 1);
    // A client whose Publish keeps failing fails once per lease: the period must cover it.
    let period_ms = alarm["Period"].as_u64().unwrap() * 1000;
    assert!(
        period_ms >= LEASE_MS + 60_000,
        "{period_ms} ms < lease {LEASE_MS} ms + a pass"
    );
}

#[test]
fn the_handlers_silent_failures_have_alarms() {
    let t = template();
    for metric in [
        "DestinationDeliveryFailures",
        "AsyncEventsDropped",
        "Errors",
    ] {
        let found =
            of_type(&t, "AWS::CloudWatch::Alarm")
                .into_iter()
                .any(|(_, a)| {
                    let p = &a["Properties"];
                    p["MetricName"] == metric
                        && p["Namespace"] == "AWS/Lambda"
                        && p["Dimensions"].as_sequence().unwrap().iter().any(|d| {
                            reference(&d["Value"]).is_some_and(|f| f.ends_with("Function"))
                        })
                });
        assert!(found, "no alarm on {metric}");
    }
    for metric in ["DestinationDeliveryFailures", "AsyncEventsDropped"] {
        let (_, alarm) = of_type(&t, "AWS::CloudWatch::Alarm")
            .into_iter()
            .find(|(_, a)| a["Properties"]["MetricName"] == metric)
            .unwrap();
        let dimension = &alarm["Properties"]["Dimensions"][0]["Value"];
        assert_eq!(reference(dimension), Some("PresenceFunction"), "{metric}");
    }
}

#[test]
fn queues_and_topics_refuse_plain_http() {
    let t = template();
    let denies_plain_http = |document: &Value| {
        statements(document).iter().any(|s| {
            s["Effect"] == "Deny"
                && s["Principal"] == "*"
                && s["Condition"]["Bool"]["aws:SecureTransport"] == "false"
        })
    };
    let covered = |policy_type: &str, list: &str| -> Vec<String> {
        of_type(&t, policy_type)
            .into_iter()
            .filter(|(_, p)| denies_plain_http(&p["Properties"]["PolicyDocument"]))
            .flat_map(|(_, p)| as_list(&p["Properties"][list]))
            .filter_map(|r| reference(&r).map(str::to_owned))
            .collect()
    };
    let queues = covered("AWS::SQS::QueuePolicy", "Queues");
    for (name, _) in of_type(&t, "AWS::SQS::Queue") {
        assert!(queues.contains(&name), "{name} accepts plain HTTP");
    }
    let topics = covered("AWS::SNS::TopicPolicy", "Topics");
    for (name, _) in of_type(&t, "AWS::SNS::Topic") {
        assert!(topics.contains(&name), "{name} accepts plain HTTP");
    }
}

#[test]
fn people_get_a_read_only_and_an_operator_policy_scoped_to_the_stack() {
    let t = template();
    let actions = |name: &str| -> Vec<String> {
        statements(&t["Resources"][name]["Properties"]["PolicyDocument"])
            .iter()
            .flat_map(|s| {
                assert_eq!(s["Effect"], "Allow", "{name}");
                // Every resource is one of the stack's own, never "*".
                for r in as_list(&s["Resource"]) {
                    assert!(
                        tagged(&r).is_some(),
                        "{name}: resource {r:?} is not the stack's"
                    );
                }
                as_list(&s["Action"])
            })
            .map(|a| a.as_str().unwrap().to_owned())
            .collect()
    };
    let read = actions("ReadOnlyPolicy");
    for a in &read {
        assert!(
            ["dynamodb:GetItem", "dynamodb:Query"].contains(&a.as_str()),
            "read-only allows {a}"
        );
    }
    let operate = actions("OperatorPolicy");
    for needed in [
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
        "dynamodb:PutItem",
        "dynamodb:Scan",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
        "sns:Publish",
        "iot:GetConnection",
    ] {
        assert!(
            operate.iter().any(|a| a == needed),
            "operator lacks {needed}"
        );
    }
    assert!(!operate.iter().any(|a| a.ends_with(":*")));
}

#[test]
fn reserved_concurrency_is_off_unless_asked_for() {
    let t = template();
    assert_eq!(t["Parameters"]["ReservedConcurrency"]["Default"], 0);
    let set = &t["Resources"]["PresenceFunction"]["Properties"]["ReservedConcurrentExecutions"];
    let (tag, choice) = tagged(set).unwrap();
    assert_eq!(tag, "If");
    assert_eq!(choice[0], "HasReservedConcurrency");
}

#[test]
fn the_reconciler_is_off_by_default_and_can_only_read_ask_and_repair() {
    let t = template();
    assert_eq!(t["Parameters"]["EnableReconciler"]["Default"], "false");
    let f = &t["Resources"]["ReconcilerFunction"];
    assert_eq!(f["Condition"], "CreateReconciler");
    for dependent in ["ReconcilerFunctionLogGroup", "ReconcilerErrorsAlarm"] {
        assert_eq!(t["Resources"][dependent]["Condition"], "CreateReconciler");
    }
    assert_eq!(f["Properties"]["ReservedConcurrentExecutions"], 1);
    let granted = grants(&t, "ReconcilerFunction");
    let expected = [
        ("dynamodb:GetItem", "StatusTable.Arn"),
        ("dynamodb:PutItem", "EventsTable.Arn"),
        ("dynamodb:Query", "${StatusTable.Arn}/index/status-index"),
        ("dynamodb:UpdateItem", "StatusTable.Arn"),
        (
            "iot:GetConnection",
            "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:client/*",
        ),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(a, r)| (a.to_string(), r.to_string()))
        .collect();
    assert_eq!(granted, expected);
}

/// Every (action, resource) a function's inline policies grant, sorted.
fn grants(t: &Value, function: &str) -> Vec<(String, String)> {
    let f = &t["Resources"][function];
    let mut granted: Vec<(String, String)> = Vec::new();
    for policy in as_list(&f["Properties"]["Policies"]) {
        for statement in statements(&policy) {
            assert_eq!(statement["Effect"], "Allow", "{function}");
            for resource in as_list(&statement["Resource"]) {
                let target = match tagged(&resource) {
                    Some((tag, target)) if tag == "GetAtt" || tag == "Sub" => {
                        target.as_str().unwrap().to_owned()
                    }
                    other => panic!("{function}: resource {other:?} is not the stack's"),
                };
                for action in as_list(&statement["Action"]) {
                    granted.push((action.as_str().unwrap().to_owned(), target.clone()));
                }
            }
        }
    }
    granted.sort();
    granted
}

#[test]
fn the_widget_can_only_read_by_key_and_by_query() {
    let t = template();
    let granted = grants(&t, "FleetWidgetFunction");
    for (action, resource) in &granted {
        assert!(
            action == "dynamodb:GetItem" || action == "dynamodb:Query",
            "the widget may {action} on {resource}: only GetItem and Query are reads without a Scan or a write"
        );
    }
    let expected = [
        ("dynamodb:GetItem", "StatusTable.Arn"),
        ("dynamodb:Query", "${StatusTable.Arn}/index/alert-index"),
        ("dynamodb:Query", "${StatusTable.Arn}/index/status-index"),
        ("dynamodb:Query", "EventsTable.Arn"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(a, r)| (a.to_string(), r.to_string()))
        .collect();
    assert_eq!(granted, expected);
    // Its own role: no managed policy or SAM policy template that could add more.
    let properties = &t["Resources"]["FleetWidgetFunction"]["Properties"];
    assert!(properties.get("Role").is_none());
    for policy in as_list(&properties["Policies"]) {
        assert!(
            policy.get("Statement").is_some(),
            "{policy:?} is not an inline document"
        );
    }
    // No event source: only a dashboard (the viewer's credentials) invokes it.
    assert!(properties.get("Events").is_none());
}
