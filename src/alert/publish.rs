//! What a pass sends: a client's notice, and the SNS message with the attributes subscribers
//! filter on. Apart from the pass's bookkeeping ([`super::pass`]) so that each file has one job.

use aws_sdk_sns::error::SdkError;
use aws_sdk_sns::operation::publish::PublishError;
use aws_sdk_sns::types::MessageAttributeValue;

use super::error::AlertError;
use super::notify::{sns_safe, Message};
use super::pass::Alerter;
use super::rule::{AlertView, Notice};
use crate::event::client_prefix;

impl Alerter {
    pub(super) async fn publish(
        &self,
        view: &AlertView,
        notice: &Notice,
        now: u64,
    ) -> Result<(), AlertError> {
        let message = Message::new(&view.client_id, view.thing_name.as_deref(), notice, now);
        let id = &view.client_id;
        self.send(
            &message.subject,
            message.to_json(),
            notice.kind(),
            client_prefix(id),
            Some(id),
        )
        .await
        .map_err(|source| AlertError::Publish {
            kind: notice.kind(),
            client_id: view.client_id.clone(),
            topic: self.topic_arn.clone(),
            source: Box::new(source),
        })?;
        Ok(())
    }

    /// One SNS message with its attributes: `kind`, `prefix` (the client's, or the storm's
    /// scope, `*` for the fleet) and, for a client's notice, `clientId`.
    pub(super) async fn send(
        &self,
        subject: &str,
        body: String,
        kind: &str,
        prefix: &str,
        client_id: Option<&str>,
    ) -> Result<(), SdkError<PublishError>> {
        let attribute = |value: &str| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .expect("data_type is set")
        };
        // Subscribers can filter on these (SNS subscription filter policies). Ids are
        // sanitised as the subject is (a raw id with a newline or NUL can make Publish fail
        // for that client forever); the JSON body keeps them raw.
        let mut request = self
            .sns
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(subject)
            .message(body)
            .message_attributes("kind", attribute(kind))
            .message_attributes("prefix", attribute(&sns_safe(prefix)));
        if let Some(id) = client_id {
            request = request.message_attributes("clientId", attribute(&sns_safe(id)));
        }
        request.send().await?;
        Ok(())
    }
}
