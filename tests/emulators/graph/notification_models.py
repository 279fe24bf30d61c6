"""Kiota models for changeNotificationCollection, mirroring Graph v1.0's schema.

msgraph-sdk 1.65 ships no ChangeNotificationCollection model (the module
msgraph.generated.models.change_notification_collection does not exist in it), so the
test uses these, written the way kiota generates models, unless the SDK has its own.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from kiota_abstractions.serialization import Parsable, ParseNode, SerializationWriter


@dataclass
class ResourceData(Parsable):
    # Graph's resourceData is an open type: only @odata.type is declared.
    additional_data: dict[str, Any] = field(default_factory=dict)
    odata_type: str | None = None

    @staticmethod
    def create_from_discriminator_value(parse_node: ParseNode) -> ResourceData:
        return ResourceData()

    def get_field_deserializers(self) -> dict[str, Any]:
        return {"@odata.type": lambda n: setattr(self, "odata_type", n.get_str_value())}

    def serialize(self, writer: SerializationWriter) -> None:
        raise NotImplementedError


@dataclass
class ChangeNotification(Parsable):
    additional_data: dict[str, Any] = field(default_factory=dict)
    change_type: str | None = None
    client_state: str | None = None
    encrypted_content: dict[str, Any] | None = None
    id: str | None = None
    lifecycle_event: str | None = None
    odata_type: str | None = None
    resource: str | None = None
    resource_data: ResourceData | None = None
    subscription_expiration_date_time: datetime.datetime | None = None
    subscription_id: str | None = None
    tenant_id: str | None = None

    @staticmethod
    def create_from_discriminator_value(parse_node: ParseNode) -> ChangeNotification:
        return ChangeNotification()

    def get_field_deserializers(self) -> dict[str, Any]:
        return {
            "changeType": lambda n: setattr(self, "change_type", n.get_str_value()),
            "clientState": lambda n: setattr(self, "client_state", n.get_str_value()),
            "encryptedContent": lambda n: setattr(self, "encrypted_content", n.get_object_value(dict)),
            "id": lambda n: setattr(self, "id", n.get_str_value()),
            "lifecycleEvent": lambda n: setattr(self, "lifecycle_event", n.get_str_value()),
            "@odata.type": lambda n: setattr(self, "odata_type", n.get_str_value()),
            "resource": lambda n: setattr(self, "resource", n.get_str_value()),
            "resourceData": lambda n: setattr(self, "resource_data", n.get_object_value(ResourceData)),
            "subscriptionExpirationDateTime": lambda n: setattr(
                self, "subscription_expiration_date_time", n.get_datetime_value()
            ),
            "subscriptionId": lambda n: setattr(self, "subscription_id", n.get_str_value()),
            "tenantId": lambda n: setattr(self, "tenant_id", n.get_str_value()),
        }

    def serialize(self, writer: SerializationWriter) -> None:
        raise NotImplementedError


@dataclass
class ChangeNotificationCollection(Parsable):
    additional_data: dict[str, Any] = field(default_factory=dict)
    odata_type: str | None = None
    validation_tokens: list[str] | None = None
    value: list[ChangeNotification] | None = None

    @staticmethod
    def create_from_discriminator_value(parse_node: ParseNode) -> ChangeNotificationCollection:
        return ChangeNotificationCollection()

    def get_field_deserializers(self) -> dict[str, Any]:
        return {
            "@odata.type": lambda n: setattr(self, "odata_type", n.get_str_value()),
            "validationTokens": lambda n: setattr(
                self, "validation_tokens", n.get_collection_of_primitive_values(str)
            ),
            "value": lambda n: setattr(self, "value", n.get_collection_of_object_values(ChangeNotification)),
        }

    def serialize(self, writer: SerializationWriter) -> None:
        raise NotImplementedError
