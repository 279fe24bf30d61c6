"""Application settings, read once from the environment (app settings in Azure, local settings locally)."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class OrganizerMode(StrEnum):
    OWNER = "owner"
    ROOM = "room"


class AppSettings(BaseSettings):
    """Every setting the app reads. Secrets come from Key Vault references in Azure."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, case_sensitive=True)

    storage_connection: str | None = Field(default=None, alias="AzureWebJobsStorage")
    # Identity-based storage (Azure): AzureWebJobsStorage__queueServiceUri and friends.
    storage_queue_service_uri: str | None = Field(default=None, alias="AzureWebJobsStorage__queueServiceUri")
    storage_table_service_uri: str | None = Field(default=None, alias="AzureWebJobsStorage__tableServiceUri")
    storage_account_name: str | None = Field(default=None, alias="AzureWebJobsStorage__accountName")
    storage_client_id: str | None = Field(default=None, alias="AzureWebJobsStorage__clientId")

    organizer_mode: OrganizerMode = Field(default=OrganizerMode.OWNER, alias="SYNC_ORGANIZER_MODE")

    graph_base_url: str = Field(default="https://graph.microsoft.com/v1.0", alias="GRAPH_BASE_URL")
    graph_authority: str = Field(default="https://login.microsoftonline.com", alias="GRAPH_AUTHORITY")
    graph_tenant_id: str | None = Field(default=None, alias="GRAPH_TENANT_ID")
    graph_client_id: str | None = Field(default=None, alias="GRAPH_CLIENT_ID")
    graph_client_secret: str | None = Field(default=None, alias="GRAPH_CLIENT_SECRET", repr=False)
    graph_client_certificate: str | None = Field(default=None, alias="GRAPH_CLIENT_CERTIFICATE", repr=False)
    graph_ca_bundle: str | None = Field(default=None, alias="GRAPH_CA_BUNDLE")
    graph_notification_url: str | None = Field(default=None, alias="GRAPH_NOTIFICATION_URL")
    graph_lifecycle_url: str | None = Field(default=None, alias="GRAPH_LIFECYCLE_URL")

    ibss_base_url: str | None = Field(default=None, alias="IBSS_BASE_URL")
    ibss_api_key: str | None = Field(default=None, alias="IBSS_API_KEY", repr=False)
    ibss_hook_secret: str | None = Field(default=None, alias="IBSS_HOOK_SECRET", repr=False)

    # Seconds a subscription's clientState stays cached in the intake function.
    client_state_cache_seconds: float = Field(default=300.0, alias="CLIENT_STATE_CACHE_SECONDS", ge=0)


@lru_cache(maxsize=1)
def get_settings() -> AppSettings:
    return AppSettings()
