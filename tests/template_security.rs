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

/// The rule's name by default: `iot_presence_` and the stack id's UUID without dashes (what
/// the template's `!If [HasRuleName, …]` expression builds), written out as a value.
fn default_rule_name_expression() -> Value {
    serde_norway::from_str(
        r#"!If
- HasRuleName
- !Ref RuleName
- !Join ["", ["iot_presence_", !Join ["", !Split ["-", !Select [2, !Split ["/", !Ref AWS::StackId]]]]]]"#,
    )
    .unwrap()
}

#[test]
fn the_rule_name_is_unguessable_by_default_and_its_error_role_trusts_only_that_rule() {
    let t = template();
    // Empty by default: the stack-unique name, so no device can address the rule through
    // Basic Ingest ($aws/rules/<name>/...).
    assert_eq!(t["Parameters"]["RuleName"]["Default"], "");
    assert_eq!(
        t["Conditions"]["HasRuleName"],
        serde_norway::from_str::<Value>(r#"!Not [!Equals [!Ref RuleName, ""]]"#).unwrap()
    );
    let rule = &t["Resources"]["PresenceTopicRule"]["Properties"];
    assert_eq!(rule["RuleName"], default_rule_name_expression());
    let trust =
        statements(&t["Resources"]["RuleErrorRole"]["Properties"]["AssumeRolePolicyDocument"]);
    assert_eq!(trust.len(), 1);
    let condition = &trust[0]["Condition"];
    assert_eq!(
        reference(&condition["StringEquals"]["aws:SourceAccount"]),
        Some("AWS::AccountId")
    );
    // The role names the rule by the same expression (it cannot refer to the rule).
    let (tag, join) = tagged(&condition["ArnEquals"]["aws:SourceArn"]).unwrap();
    assert_eq!(tag, "Join");
    let parts = join[1].as_sequence().unwrap();
    assert_eq!(
        sub(&parts[0]),
        "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:rule/"
    );
    assert_eq!(parts[1], default_rule_name_expression());
    // The operator is told what is left open.
    let defences = &t["Outputs"]["ForgeryDefences"]["Value"];
    assert_eq!(tagged(defences).unwrap().1[0], "HasRuleName");
}

#[test]
fn devices_can_be_denied_publishing_to_the_rule_through_basic_ingest() {
    let t = template();
    let basic_ingest = "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:topic/$aws/rules/${PresenceTopicRule}/*";
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
        // Deleted with the stack, on purpose (docs/deploy.md "Teardown").
        assert_eq!(group["DeletionPolicy"], "Delete", "{name}");
        assert_eq!(group["UpdateReplacePolicy"], "Delete", "{name}");
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
    assert!(alarms.len() >= 14, "{}", alarms.len());
    for (name, alarm) in &alarms {
        let actions = alarm["Properties"]["AlarmActions"].as_sequence().unwrap();
        assert_eq!(actions.len(), 1, "{name}");
        // And back to OK, to the same place.
        assert_eq!(
            alarm["Properties"]["OKActions"], alarm["Properties"]["AlarmActions"],
            "{name}"
        );
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
            // A statement that exists with a resource only (the API's): its `!If` choice.
            .map(|s| match tagged(s) {
                Some((tag, choice)) if tag == "If" => choice[1].clone(),
                _ => s.clone(),
            })
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
            [
                "dynamodb:GetItem",
                "dynamodb:Query",
                "lambda:InvokeFunction",
                "cloudformation:DescribeStacks",
                "execute-api:Invoke"
            ]
            .contains(&a.as_str()),
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
        "cloudformation:DescribeStacks",
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

/// The widget's role reads only what the widget shows: every statement allows exactly the
/// attributes the function's narrowed reads name (`store::narrow`), none of principal, IP
/// address, connection map or payload, and only requests that name their attributes.
#[test]
fn the_widget_may_read_only_the_attributes_it_shows() {
    use iot_presence::store::narrow::{EVENT_ATTRIBUTES, STATUS_ATTRIBUTES};
    let t = template();
    let properties = &t["Resources"]["FleetWidgetFunction"]["Properties"];
    let mut checked = 0;
    for policy in as_list(&properties["Policies"]) {
        for statement in statements(&policy) {
            let resources: Vec<String> = as_list(&statement["Resource"])
                .iter()
                .map(|r| {
                    tagged(r)
                        .and_then(|(_, v)| v.as_str().map(str::to_owned))
                        .unwrap()
                })
                .collect();
            let expected: &[&str] = if resources.iter().all(|r| r.starts_with("EventsTable")) {
                &EVENT_ATTRIBUTES
            } else {
                assert!(
                    resources.iter().all(|r| r.contains("StatusTable")),
                    "{resources:?}"
                );
                &STATUS_ATTRIBUTES
            };
            let condition = &statement["Condition"];
            let allowed: Vec<String> =
                as_list(&condition["ForAllValues:StringEquals"]["dynamodb:Attributes"])
                    .iter()
                    .map(|a| a.as_str().unwrap().to_owned())
                    .collect();
            let mut want = expected.to_vec();
            want.sort_unstable();
            let mut got: Vec<&str> = allowed.iter().map(String::as_str).collect();
            got.sort_unstable();
            assert_eq!(got, want, "{resources:?}");
            for never in [
                "principalIdentifier",
                "ipAddress",
                "connectedSession",
                "payload",
            ] {
                assert!(!got.contains(&never), "{never} on {resources:?}");
            }
            let select: Vec<String> =
                as_list(&condition["StringEqualsIfExists"]["dynamodb:Select"])
                    .iter()
                    .map(|a| a.as_str().unwrap().to_owned())
                    .collect();
            assert_eq!(select, ["SPECIFIC_ATTRIBUTES", "COUNT"], "{resources:?}");
            checked += 1;
        }
    }
    assert_eq!(checked, 3, "three statements, each narrowed");
}

#[test]
fn deploy_refuses_alarms_that_reach_no_one_unless_chosen() {
    let t = template();
    let rule = &t["Rules"]["AlarmsReachSomeone"];
    assert_eq!(
        rule["RuleCondition"],
        serde_norway::from_str::<Value>(r#"!Equals [!Ref AcceptAlarmsWithoutSubscriber, "false"]"#)
            .unwrap()
    );
    assert_eq!(
        rule["Assertions"][0]["Assert"],
        serde_norway::from_str::<Value>(
            r#"!Or [!Not [!Equals [!Ref AlarmEmail, ""]], !Not [!Equals [!Ref AlarmTopicArn, ""]]]"#
        )
        .unwrap()
    );
    assert_eq!(
        t["Parameters"]["AcceptAlarmsWithoutSubscriber"]["Default"],
        "false"
    );
    // The outputs say who the alarms reach, "NO ONE" included.
    let said = format!("{:?}", t["Outputs"]["AlarmNotifications"]["Value"]);
    assert!(said.contains("NO ONE"), "{said}");
}

#[test]
fn throttles_event_age_and_forgotten_failures_have_alarms() {
    let t = template();
    let alarms = of_type(&t, "AWS::CloudWatch::Alarm");
    let on = |metric: &str, dimension: &str| {
        alarms.iter().find(|(_, a)| {
            let p = &a["Properties"];
            p["MetricName"] == metric
                && p["Dimensions"].as_sequence().unwrap().iter().any(|d| {
                    let v = &d["Value"];
                    reference(v) == Some(dimension)
                        || tagged(v).is_some_and(|(tag, target)| {
                            tag == "GetAtt" && format!("{target:?}").contains(dimension)
                        })
                })
        })
    };
    for function in ["PresenceFunction", "AlerterFunction", "ReconcilerFunction"] {
        assert!(
            on("Throttles", function).is_some(),
            "no throttle alarm on {function}"
        );
    }
    let (_, age) = on("AsyncEventAge", "PresenceFunction").expect("an AsyncEventAge alarm");
    // Late by more than the offline threshold: the alerts it feeds are late.
    assert_eq!(
        reference(&age["Properties"]["Threshold"]),
        Some("OfflineThresholdMs")
    );
    for queue in ["FailedEventsQueue", "RuleErrorsQueue"] {
        let (_, a) = on("ApproximateAgeOfOldestMessage", queue)
            .unwrap_or_else(|| panic!("no age alarm on {queue}"));
        let retention = t["Resources"][queue]["Properties"]["MessageRetentionPeriod"]
            .as_u64()
            .unwrap();
        let threshold = a["Properties"]["Threshold"].as_u64().unwrap();
        assert!(
            threshold < retention,
            "{queue}: fires only after SQS deleted the message"
        );
    }
}

#[test]
fn only_the_handler_and_the_rule_can_send_to_the_failure_queues() {
    let t = template();
    let s = statements(&t["Resources"]["FailureQueuesPolicy"]["Properties"]["PolicyDocument"]);
    for (queue, sender) in [
        ("FailedEventsQueue", "PresenceFunctionRole"),
        ("RuleErrorsQueue", "RuleErrorRole"),
    ] {
        let deny = s
            .iter()
            .find(|st| {
                st["Effect"] == "Deny"
                    && st["Action"] == "sqs:SendMessage"
                    && format!("{:?}", st["Resource"]).contains(queue)
            })
            .unwrap_or_else(|| panic!("anyone may send to {queue}"));
        assert_eq!(deny["Principal"], "*");
        let allowed = &deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"];
        let (tag, target) = tagged(allowed).unwrap();
        assert_eq!(tag, "GetAtt");
        assert!(
            format!("{target:?}").contains(sender),
            "{queue}: {target:?}"
        );
    }
}

/// What an alarm's definition says, in the words docs/alarms.md uses:
/// `{Statistic} of {MetricName} {op} {Threshold} in {DatapointsToAlarm} of {EvaluationPeriods}
/// periods of {Period} s` (a threshold given by a parameter shows the parameter's name).
fn alarm_sentence(p: &Value) -> String {
    let op = match p["ComparisonOperator"].as_str().unwrap() {
        "GreaterThanThreshold" => ">",
        "GreaterThanOrEqualToThreshold" => ">=",
        "LessThanThreshold" => "<",
        "LessThanOrEqualToThreshold" => "<=",
        other => panic!("comparison {other}"),
    };
    let threshold = reference(&p["Threshold"])
        .map(str::to_owned)
        .unwrap_or_else(|| p["Threshold"].as_u64().unwrap().to_string());
    let periods = p["EvaluationPeriods"].as_u64().unwrap();
    let datapoints = p["DatapointsToAlarm"].as_u64().unwrap_or(periods);
    format!(
        "{} of {} {op} {threshold} in {datapoints} of {periods} periods of {} s",
        p["Statistic"].as_str().unwrap(),
        p["MetricName"].as_str().unwrap(),
        p["Period"].as_u64().unwrap()
    )
}

/// docs/alarms.md states each alarm's condition as the template defines it, one row each.
#[test]
fn the_alarm_docs_state_what_the_template_defines() {
    let t = template();
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/alarms.md"))
        .expect("docs/alarms.md");
    let rows: std::collections::BTreeMap<String, String> = doc
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let name = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            let when = cells.get(2)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((name.to_owned(), when.to_owned()))
        })
        .collect();
    let alarms = of_type(&t, "AWS::CloudWatch::Alarm");
    assert!(alarms.len() >= 14);
    for (name, alarm) in &alarms {
        let documented = rows
            .get(name)
            .unwrap_or_else(|| panic!("docs/alarms.md has no row for {name}"));
        assert_eq!(documented, &alarm_sentence(&alarm["Properties"]), "{name}");
    }
    for name in rows.keys() {
        assert!(
            alarms.iter().any(|(a, _)| a == name),
            "docs/alarms.md documents {name}, which the template does not define"
        );
    }
}
