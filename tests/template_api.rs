//! The HTTP API in template.yaml, checked on the parsed template: on by default, IAM unless
//! ApiAuth=jwt on every route (the `$default` route too), stage throttling from the
//! parameters, the routes the router serves, a read-only narrowed role, and people's
//! read-only policy allowed to call it.

use iot_presence::api::route::ROUTES;
use iot_presence::config::{
    EVENTS_TABLE_VAR, RETENTION_VAR, STATUS_TABLE_VAR, STORM_MIN_CLIENTS_VAR, STORM_MIN_SHARE_VAR,
    STORM_WINDOW_VAR,
};
use iot_presence::store::narrow::{EVENT_ATTRIBUTES, STATUS_ATTRIBUTES};
use presence_template::{intrinsic, reference, Template, Value};

fn template() -> Template {
    Template::repository()
}

fn list(v: &Value) -> Vec<Value> {
    match v {
        Value::Sequence(s) => s.clone(),
        other => vec![other.clone()],
    }
}

fn strings(v: &Value) -> Vec<String> {
    list(v)
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

/// `!If [ApiJwt, [{JwtAuthorizer: []}], [{AWS_IAM: []}]]`, the security of every route.
fn security_is_iam_unless_jwt(security: &Value, route: &str) {
    let (tag, choice) = intrinsic(security).unwrap_or_else(|| panic!("{route}: no !If"));
    assert_eq!(tag, "If", "{route}");
    assert_eq!(choice[0], "ApiJwt", "{route}");
    let scheme = |v: &Value| -> Vec<String> {
        list(v)
            .iter()
            .flat_map(|s| {
                s.as_mapping()
                    .unwrap()
                    .keys()
                    .map(|k| k.as_str().unwrap().to_owned())
            })
            .collect()
    };
    assert_eq!(scheme(&choice[1]), ["JwtAuthorizer"], "{route}");
    assert_eq!(scheme(&choice[2]), ["AWS_IAM"], "{route}");
}

#[test]
fn the_api_is_on_by_default_behind_iam_with_stage_throttling() {
    let t = template();
    let p = |name: &str| t.parameter(name).unwrap().default.unwrap();
    assert_eq!(p("EnableApi"), "true");
    assert_eq!(p("ApiAuth"), "iam");
    assert_eq!(p("ApiThrottleRateLimit").as_u64(), Some(50));
    assert_eq!(p("ApiThrottleBurstLimit").as_u64(), Some(100));
    let api = t.resource("PresenceApi").unwrap();
    assert_eq!(api["Type"], "AWS::Serverless::HttpApi");
    assert_eq!(api["Condition"], "CreateApi");
    let settings = &api["Properties"]["DefaultRouteSettings"];
    assert_eq!(
        reference(&settings["ThrottlingRateLimit"]),
        Some("ApiThrottleRateLimit")
    );
    assert_eq!(
        reference(&settings["ThrottlingBurstLimit"]),
        Some("ApiThrottleBurstLimit")
    );
    // No SAM Auth (it cannot follow a parameter): the definition sets each route's security.
    assert!(api["Properties"].get("Auth").is_none());
    let body = &api["Properties"]["DefinitionBody"];
    let (tag, schemes) = intrinsic(&body["components"]["securitySchemes"]).unwrap();
    assert_eq!(tag, "If");
    assert_eq!(schemes[0], "ApiJwt");
    let jwt = &schemes[1]["JwtAuthorizer"]["x-amazon-apigateway-authorizer"];
    assert_eq!(jwt["type"], "jwt");
    assert_eq!(
        reference(&jwt["jwtConfiguration"]["issuer"]),
        Some("ApiJwtIssuer")
    );
    assert_eq!(
        reference(&jwt["jwtConfiguration"]["audience"]),
        Some("ApiJwtAudience")
    );
    assert_eq!(
        schemes[2]["AWS_IAM"]["x-amazon-apigateway-authtype"],
        "awsSigv4"
    );
    // The routes are the router's, GET only, and `$default`: all of them authorized.
    let paths = body["paths"].as_mapping().unwrap();
    let mut documented: Vec<&str> = paths.keys().map(|k| k.as_str().unwrap()).collect();
    documented.sort_unstable();
    let mut expected: Vec<&str> = ROUTES.iter().map(|(p, _)| *p).chain(["$default"]).collect();
    expected.sort_unstable();
    assert_eq!(documented, expected);
    for (path, item) in paths {
        let path = path.as_str().unwrap();
        let methods: Vec<&str> = item
            .as_mapping()
            .unwrap()
            .keys()
            .map(|k| k.as_str().unwrap())
            .collect();
        let method = if path == "$default" {
            "x-amazon-apigateway-any-method"
        } else {
            "get"
        };
        assert_eq!(methods, [method], "{path}");
        security_is_iam_unless_jwt(&item[method]["security"], path);
    }
    // A JWT authorizer needs its issuer and audience: refused at deploy time without them.
    let rule = &t.root()["Rules"]["ApiJwtConfigured"];
    assert_eq!(list(&rule["Assertions"]).len(), 2);
}

#[test]
fn the_api_function_serves_every_route_and_reads_only_its_variables() {
    let t = template();
    let f = t.resource("ApiFunction").unwrap();
    assert_eq!(f["Condition"], "CreateApi");
    assert_eq!(f["Metadata"]["BuildProperties"]["Binary"], "presence-api");
    let mut routes: Vec<(String, String)> = f["Properties"]["Events"]
        .as_mapping()
        .unwrap()
        .values()
        .map(|e| {
            assert_eq!(e["Type"], "HttpApi");
            assert_eq!(reference(&e["Properties"]["ApiId"]), Some("PresenceApi"));
            (
                e["Properties"]["Method"].as_str().unwrap().to_owned(),
                e["Properties"]["Path"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    routes.sort();
    let mut expected: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(p, _)| ("GET".to_owned(), (*p).to_owned()))
        .chain([("ANY".to_owned(), "$default".to_owned())])
        .collect();
    expected.sort();
    assert_eq!(routes, expected);
    let mut want = vec![
        STATUS_TABLE_VAR,
        EVENTS_TABLE_VAR,
        RETENTION_VAR,
        STORM_MIN_SHARE_VAR,
        STORM_MIN_CLIENTS_VAR,
        STORM_WINDOW_VAR,
        "AWS_ENDPOINT_URL_DYNAMODB",
    ];
    want.sort_unstable();
    let got: Vec<String> = t.environment("ApiFunction").unwrap().into_keys().collect();
    assert_eq!(got, want);
    let group = reference(&f["Properties"]["LoggingConfig"]["LogGroup"]).unwrap();
    assert_eq!(t.resource(group).unwrap()["Condition"], "CreateApi");
    let output = &t.root()["Outputs"]["ApiUrl"];
    assert_eq!(output["Condition"], "CreateApi");
    let url = presence_template::sub(&output["Value"]).unwrap();
    assert!(
        url.starts_with("https://${PresenceApi}.execute-api."),
        "{url}"
    );
}

/// Its role reads by key and by query only, and only the attributes its narrowed reads name:
/// never a principal, an IP address or a payload; no Scan, no write.
#[test]
fn the_api_function_may_only_read_what_it_answers_with() {
    let t = template();
    let f = t.resource("ApiFunction").unwrap();
    assert!(f["Properties"].get("Role").is_none());
    let mut granted = Vec::new();
    for policy in list(&f["Properties"]["Policies"]) {
        for statement in list(&policy["Statement"]) {
            assert_eq!(statement["Effect"], "Allow");
            let resources: Vec<String> = list(&statement["Resource"])
                .iter()
                .map(|r| {
                    intrinsic(r)
                        .and_then(|(_, v)| v.as_str())
                        .unwrap()
                        .to_owned()
                })
                .collect();
            for action in strings(&statement["Action"]) {
                assert!(
                    action == "dynamodb:GetItem" || action == "dynamodb:Query",
                    "the API may {action}"
                );
                for r in &resources {
                    granted.push((action.clone(), r.clone()));
                }
            }
            let events = resources.iter().all(|r| r.starts_with("EventsTable"));
            let mut want: Vec<&str> = if events {
                EVENT_ATTRIBUTES.to_vec()
            } else {
                STATUS_ATTRIBUTES.to_vec()
            };
            want.sort_unstable();
            let condition = &statement["Condition"];
            let mut got = strings(&condition["ForAllValues:StringEquals"]["dynamodb:Attributes"]);
            got.sort_unstable();
            assert_eq!(got, want, "{resources:?}");
            assert_eq!(
                strings(&condition["StringEqualsIfExists"]["dynamodb:Select"]),
                ["SPECIFIC_ATTRIBUTES", "COUNT"]
            );
        }
    }
    granted.sort();
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
}

#[test]
fn people_with_the_read_only_policy_may_call_the_api_and_only_by_get() {
    let t = template();
    let statements =
        list(&t.resource("ReadOnlyPolicy").unwrap()["Properties"]["PolicyDocument"]["Statement"]);
    let conditional: Vec<&Value> = statements
        .iter()
        .filter_map(|s| intrinsic(s).filter(|(tag, _)| *tag == "If").map(|(_, v)| v))
        .collect();
    assert_eq!(conditional.len(), 1);
    let choice = conditional[0];
    assert_eq!(choice[0], "CreateApi");
    assert_eq!(reference(&choice[2]), Some("AWS::NoValue"));
    let statement = &choice[1];
    assert_eq!(statement["Effect"], "Allow");
    assert_eq!(statement["Action"], "execute-api:Invoke");
    let resource = presence_template::sub(&statement["Resource"]).unwrap();
    assert!(resource.ends_with(":${PresenceApi}/*/GET/*"), "{resource}");
}
