"""Subscriptions: validation handshake, lifetime rules, quota, change and lifecycle notifications."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from emulators.graph.delivery import Delivery
from emulators.graph.errors import GraphError, bad_request
from emulators.graph.state import EmulatorState, Mailbox
from emulators.graph.timezones import format_utc_z, parse_any_instant

CHANGE_TYPES = {"created", "updated", "deleted"}
LIFECYCLE_EVENTS = {"reauthorizationRequired", "subscriptionRemoved", "missed"}
_RESOURCE_RE = re.compile(
    r"^/?(?:users/(?P<u>[^/()]+)|users\('(?P<q>[^']+)'\)|(?P<me>me))/(?:calendar/)?events/?(?:\?.*)?$",
    re.IGNORECASE,
)


@dataclass
class Subscription:
    id: str
    resource: str
    mailbox_id: str
    change_type: str
    notification_url: str
    lifecycle_url: str | None
    client_state: str | None
    expiration: datetime
    app_id: str
    creator_id: str
    latest_tls: str
    needs_reauth: bool = False

    def to_wire(self) -> dict[str, Any]:
        return {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity",
            "id": self.id,
            "resource": self.resource,
            "applicationId": self.app_id,
            "changeType": self.change_type,
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "notificationQueryOptions": None,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": format_utc_z(self.expiration),
            "creatorId": self.creator_id,
            "includeResourceData": None,
            "latestSupportedTlsVersion": self.latest_tls,
            "encryptionCertificate": None,
            "encryptionCertificateId": None,
            "notificationUrlAppId": None,
        }


class Subscriptions:
    def __init__(self, state: EmulatorState, delivery: Delivery) -> None:
        self.state = state
        self.delivery = delivery
        self.items: dict[str, Subscription] = {}
        state.change_listeners.append(self.on_change)

    def clear(self) -> None:
        self.items.clear()

    def purge_expired(self) -> None:
        now = self.state.now()
        for sid in [s.id for s in self.items.values() if s.expiration <= now]:
            del self.items[sid]

    def get(self, sid: str, app_id: str | None = None) -> Subscription:
        self.purge_expired()
        sub = self.items.get(sid)
        if sub is None or (app_id is not None and sub.app_id != app_id):
            raise GraphError(
                404, "ResourceNotFound", f"The object was not found. Subscription '{sid}' does not exist."
            )
        return sub

    def list(self, app_id: str | None = None) -> list[Subscription]:
        self.purge_expired()
        return [s for s in self.items.values() if app_id is None or s.app_id == app_id]

    def resolve_resource(self, resource: str) -> Mailbox:
        m = _RESOURCE_RE.match(resource.strip())
        if not m:
            raise bad_request(f"Resource '{resource}' is not supported by this emulator.", "InvalidRequest")
        if m.group("me"):
            raise bad_request("/me request is only valid with delegated authentication flow.", "BadRequest")
        mb = self.state.mailbox(m.group("u") or m.group("q"))
        if mb is None:
            raise GraphError(404, "ResourceNotFound", "The specified object was not found in the store.")
        return mb

    def _expiration(self, raw: Any) -> datetime:
        if not raw:
            raise bad_request("expirationDateTime is required.", "InvalidRequest")
        try:
            exp = parse_any_instant(str(raw))
        except ValueError as exc:
            raise bad_request(str(exc), "InvalidRequest") from exc
        cfg = self.state.config
        now = self.state.now()
        if exp > now + timedelta(minutes=cfg.max_expiration_minutes_basic):
            raise bad_request(
                f"Subscription expiration can only be {cfg.max_expiration_minutes_basic} "
                "minutes in the future.",
                "ExtensionError",
            )
        return max(exp, now + timedelta(minutes=cfg.min_expiration_minutes))

    def _check_url(self, url: Any, name: str) -> str:
        if not isinstance(url, str) or not url:
            raise bad_request(f"{name} is required.", "InvalidRequest")
        scheme = urlsplit(url).scheme.lower()
        if scheme != "https" and (self.state.config.require_https_notification_url or scheme != "http"):
            raise bad_request(f"The {name} must be an HTTPS URL.", "InvalidRequest")
        return url

    async def validate_endpoint(self, url: str) -> None:
        token = (
            f"Validation: Testing client application reachability for subscription Request-Id: {uuid.uuid4()}"
        )
        sep = "&" if "?" in url else "?"
        try:
            resp = await self.delivery.client.post(
                f"{url}{sep}validationToken={quote(token, safe='')}",
                content=b"",
                headers={"Content-Type": "text/plain; charset=utf-8"},
                timeout=self.state.config.validation_timeout_seconds,
            )
        except (httpx.HTTPError, OSError) as exc:
            raise bad_request(
                "Subscription validation request failed. Notification endpoint must "
                f"respond with 200 OK to validation request. ({type(exc).__name__})",
                "InvalidRequest",
            ) from exc
        ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
        if resp.status_code != 200 or ctype != "text/plain" or resp.text.strip() != token.strip():
            raise bad_request(
                "Subscription validation request failed. Response must "
                "exactly match validationToken query parameter.",
                "InvalidRequest",
            )

    async def create(
        self, body: dict[str, Any], app_id: str, creator_id: str, mailbox_allowed: Any
    ) -> Subscription:
        change_type = str(body.get("changeType") or "")
        parts = [p.strip() for p in change_type.split(",") if p.strip()]
        if not parts or any(p not in CHANGE_TYPES for p in parts):
            raise bad_request(f"Invalid changeType '{change_type}'.", "InvalidRequest")
        if body.get("includeResourceData"):
            raise bad_request("Rich notifications (includeResourceData) are not emulated.", "InvalidRequest")
        url = self._check_url(body.get("notificationUrl"), "notificationUrl")
        lifecycle = body.get("lifecycleNotificationUrl")
        if lifecycle is not None:
            lifecycle = self._check_url(lifecycle, "lifecycleNotificationUrl")
        client_state = body.get("clientState")
        if client_state is not None and len(str(client_state)) > 128:
            raise bad_request("clientState must be at most 128 characters.", "InvalidRequest")
        resource = str(body.get("resource") or "")
        mb = self.resolve_resource(resource)
        mailbox_allowed(mb)
        exp = self._expiration(body.get("expirationDateTime"))
        self.purge_expired()
        if (
            sum(1 for s in self.items.values() if s.mailbox_id == mb.id)
            >= self.state.config.subscriptions_per_mailbox
        ):
            raise GraphError(
                403,
                "ExtensionError",
                "Operation: Create; Exception: [Status Code: Forbidden; "
                "Reason: The maximum number of subscriptions "
                f"({self.state.config.subscriptions_per_mailbox}) has been reached for this mailbox.]",
            )
        await self.validate_endpoint(url)
        if lifecycle:
            await self.validate_endpoint(lifecycle)
        sub = Subscription(
            id=str(uuid.uuid4()),
            resource=resource,
            mailbox_id=mb.id,
            change_type=",".join(parts),
            notification_url=url,
            lifecycle_url=lifecycle,
            client_state=None if client_state is None else str(client_state),
            expiration=exp,
            app_id=app_id,
            creator_id=creator_id,
            latest_tls=str(body.get("latestSupportedTlsVersion") or "v1_2"),
        )
        self.items[sub.id] = sub
        return sub

    async def update(self, sub: Subscription, body: dict[str, Any]) -> Subscription:
        for name in body:
            if name not in ("expirationDateTime", "notificationUrl", "@odata.type"):
                raise bad_request(f"Property '{name}' cannot be updated.", "InvalidRequest")
        exp = self._expiration(body["expirationDateTime"]) if "expirationDateTime" in body else sub.expiration
        if "notificationUrl" in body:
            url = self._check_url(body["notificationUrl"], "notificationUrl")
            await self.validate_endpoint(url)
            sub.notification_url = url
        sub.expiration = exp
        sub.needs_reauth = False  # renewing also reauthorizes
        return sub

    def delete(self, sub: Subscription) -> None:
        self.items.pop(sub.id, None)

    def on_change(self, mb: Mailbox, event_id: str, change_type: str, etag: str | None) -> None:
        self.purge_expired()
        for sub in self.items.values():
            if sub.mailbox_id != mb.id or change_type not in sub.change_type.split(","):
                continue
            path = f"Users/{mb.id}/Events/{event_id}"
            data: dict[str, Any] = {"@odata.type": "#Microsoft.Graph.Event", "@odata.id": path}
            if etag:
                data["@odata.etag"] = etag
            data["id"] = event_id
            item: dict[str, Any] = {
                "subscriptionId": sub.id,
                "subscriptionExpirationDateTime": sub.expiration.replace(microsecond=0).isoformat(),
                "changeType": change_type,
                "resource": path,
                "resourceData": data,
                "clientState": sub.client_state,
                "tenantId": self.state.tenant.tenant_id,
            }
            self.delivery.enqueue(sub.notification_url, item)

    def lifecycle(self, sub: Subscription, event: str) -> bool:
        """Send a lifecycle notification; ``subscriptionRemoved`` also deletes the subscription."""
        if event not in LIFECYCLE_EVENTS:
            raise bad_request(f"Unknown lifecycle event '{event}'.")
        if event == "reauthorizationRequired":
            sub.needs_reauth = True
        if event == "subscriptionRemoved":
            self.items.pop(sub.id, None)
        if not sub.lifecycle_url:
            return False
        self.delivery.enqueue(
            sub.lifecycle_url,
            {
                "subscriptionId": sub.id,
                "subscriptionExpirationDateTime": sub.expiration.replace(microsecond=0).isoformat(),
                "tenantId": self.state.tenant.tenant_id,
                "clientState": sub.client_state,
                "lifecycleEvent": event,
            },
        )
        return True
