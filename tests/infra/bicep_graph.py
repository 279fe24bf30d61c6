"""Offline static checks for the Bicep templates under ``infra/``.

The Bicep CLI is not installable on the build machines, so the templates are parsed with the
tree-sitter Bicep grammar from PyPI. This module turns the syntax tree into a small resource graph:

* every ``param``, ``var``, ``resource`` (including nested child resources), ``module`` and ``output``
  of a file, with literal values evaluated into Python values (``str``, ``int``, ``bool``, ``None``,
  ``dict``, ``list``);
* expressions it cannot evaluate are kept as typed placeholders (:class:`Ref` to a parameter,
  :class:`Call`, :class:`Template` for interpolated strings, :class:`Choice` for ``a ? b : c`` and
  :class:`Expr` for anything else) so the checks can still reason about them;
* variables are inlined and ``loadJsonContent`` is read, so ``roles.storageBlobDataOwner`` resolves
  to the GUID literal.

The ``check_*`` functions return human-readable findings (empty list = compliant). They are pure
functions of a parsed file or deployment, so tests can also feed them deliberately bad snippets.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias

import tree_sitter_bicep
from tree_sitter import Language, Node, Parser

_LANGUAGE = Language(tree_sitter_bicep.language())

# ---------------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expr:
    """An expression the evaluator does not interpret, kept as its source text."""

    text: str


@dataclass(frozen=True)
class Ref:
    """A bare reference to a parameter of the same file."""

    name: str


@dataclass(frozen=True)
class Call:
    """A function call such as ``subscriptionResourceId(...)``, ``union(...)`` or ``guid(...)``."""

    name: str
    args: tuple[Value, ...]
    text: str


@dataclass(frozen=True)
class Template:
    """An interpolated string: ``str`` parts are literal text, other parts are evaluated holes."""

    parts: tuple[Value, ...]
    text: str

    @property
    def literal_prefix(self) -> str:
        return self.parts[0] if self.parts and isinstance(self.parts[0], str) else ""


@dataclass(frozen=True)
class Choice:
    """``condition ? a : b``: either option may be the deployed value."""

    condition: str
    options: tuple[Value, Value]
    text: str


Value: TypeAlias = (
    str | int | bool | dict[str, "Value"] | list["Value"] | Expr | Ref | Call | Template | Choice | None
)


def source_text(value: Value) -> str:
    """Best-effort Bicep-like text of a value (used for messages and substring checks)."""
    if isinstance(value, Expr | Call | Template | Choice):
        return value.text
    if isinstance(value, Ref):
        return value.name
    if isinstance(value, str):
        return repr(value)
    return json.dumps(value, default=source_text)


# ---------------------------------------------------------------------------------------------------
# Declarations
# ---------------------------------------------------------------------------------------------------


@dataclass
class Param:
    name: str
    type: str
    has_default: bool
    default: Value
    decorators: dict[str, tuple[Value, ...]]

    @property
    def secure(self) -> bool:
        return "secure" in self.decorators

    @property
    def description(self) -> str | None:
        args = self.decorators.get("description")
        return args[0] if args and isinstance(args[0], str) else None


@dataclass
class Resource:
    symbol: str  # nested resources are named parent::child, as Bicep addresses them
    type: str  # full type, e.g. Microsoft.Storage/storageAccounts/queueServices/queues
    api_version: str
    existing: bool
    condition: str | None
    loop_items: Value | None  # the evaluated iterable of a [for x in items: ...] resource
    body: dict[str, Value]
    parent: str | None
    path: Path

    @property
    def properties(self) -> dict[str, Value]:
        props = self.body.get("properties")
        return props if isinstance(props, dict) else {}

    @property
    def name(self) -> Value:
        return self.body.get("name")


@dataclass
class Module:
    symbol: str
    source: str
    path: Path | None  # None for registry modules (br:, ts:)
    body: dict[str, Value]

    @property
    def params(self) -> dict[str, Value]:
        params = self.body.get("params")
        return params if isinstance(params, dict) else {}


@dataclass
class Output:
    name: str
    type: str
    value: Value
    text: str


@dataclass
class BicepFile:
    path: Path
    source: bytes
    syntax_errors: list[str]
    target_scope: str = "resourceGroup"
    params: dict[str, Param] = field(default_factory=dict)
    variables: dict[str, Value] = field(default_factory=dict)
    resources: dict[str, Resource] = field(default_factory=dict)
    modules: dict[str, Module] = field(default_factory=dict)
    outputs: dict[str, Output] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)  # every called function, e.g. "storage.listKeys"
    strings: list[str] = field(default_factory=list)  # every literal string fragment
    loaded_files: list[Path] = field(default_factory=list)  # loadTextContent / loadJsonContent targets

    def resources_of_type(self, type_: str, *, include_existing: bool = False) -> list[Resource]:
        return [
            r
            for r in self.resources.values()
            if r.type.lower() == type_.lower() and (include_existing or not r.existing)
        ]


# ---------------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------------

_ESCAPES = {"\\'": "'", "\\\\": "\\", "\\n": "\n", "\\r": "\r", "\\t": "\t", "\\$": "$"}


def _named(node: Node) -> list[Node]:
    return [c for c in node.named_children if c.type != "comment"]


class _FileParser:
    def __init__(self, path: Path, source: bytes) -> None:
        self.path = path
        self.src = source
        self.tree = Parser(_LANGUAGE).parse(source)
        self.var_nodes: dict[str, Node] = {}
        self.param_names: set[str] = set()
        self._evaluating: set[str] = set()
        self._var_cache: dict[str, Value] = {}

    def text(self, node: Node) -> str:
        return self.src[node.start_byte : node.end_byte].decode()

    # -- expressions -------------------------------------------------------------------------------

    def evaluate(self, node: Node) -> Value:
        kind = node.type
        if kind == "string":
            return self._string(node)
        if kind == "boolean":
            return self.text(node) == "true"
        if kind == "number":
            return int(self.text(node))
        if kind == "null":
            return None
        if kind == "object":
            return self._object(node)
        if kind == "array":
            return [self.evaluate(c) for c in _named(node)]
        if kind == "parenthesized_expression":
            inner = _named(node)
            return self.evaluate(inner[0]) if len(inner) == 1 else Expr(self.text(node))
        if kind == "identifier":
            return self._identifier(node)
        if kind == "member_expression":
            return self._member(node)
        if kind == "call_expression":
            return self._call(node)
        if kind == "ternary_expression":
            condition = node.child_by_field_name("condition")
            consequence = node.child_by_field_name("consequence")
            alternative = node.child_by_field_name("alternative")
            if condition is None or consequence is None or alternative is None:
                return Expr(self.text(node))
            return Choice(
                self.text(condition),
                (self.evaluate(consequence), self.evaluate(alternative)),
                self.text(node),
            )
        return Expr(self.text(node))

    def _string(self, node: Node) -> Value:
        parts: list[Value] = []
        buffer = ""
        for child in node.children:
            if child.type == "string_content":
                buffer += self.text(child)
            elif child.type == "escape_sequence":
                raw = self.text(child)
                buffer += _ESCAPES.get(raw, raw)
            elif child.type == "interpolation":
                inner = _named(child)
                hole = self.evaluate(inner[0]) if inner else Expr("")
                if isinstance(hole, str):  # e.g. a resolved abbreviation: keep literal text together
                    buffer += hole
                    continue
                if buffer:
                    parts.append(buffer)
                    buffer = ""
                parts.append(hole)
        if buffer:
            parts.append(buffer)
        if all(isinstance(p, str) for p in parts):
            literal = "".join(p for p in parts if isinstance(p, str))
            if node.children and self.text(node.children[0]) == "'''":
                # A multi-line string starting with a newline drops that newline, as in Bicep.
                literal = literal.removeprefix("\r\n").removeprefix("\n")
            return literal
        return Template(tuple(parts), self.text(node))

    def _object(self, node: Node) -> dict[str, Value]:
        result: dict[str, Value] = {}
        for prop in _named(node):
            if prop.type != "object_property":
                continue
            children = _named(prop)
            if len(children) != 2:  # nested resource declarations and decorators are handled elsewhere
                continue
            key_node, value_node = children
            key = self.evaluate(key_node) if key_node.type == "string" else self.text(key_node)
            if isinstance(key, Template):  # '${identityId}': {} keeps its Bicep spelling, minus the quotes
                key = key.text.strip("'")
            result[key if isinstance(key, str) else source_text(key)] = self.evaluate(value_node)
        return result

    def _identifier(self, node: Node) -> Value:
        name = self.text(node)
        if name in self.var_nodes:
            return self._variable(name)
        if name in self.param_names:
            return Ref(name)
        return Expr(name)

    def _variable(self, name: str) -> Value:
        if name in self._var_cache:
            return self._var_cache[name]
        if name in self._evaluating:  # a cycle is a Bicep error; do not recurse forever
            return Expr(name)
        self._evaluating.add(name)
        value = self.evaluate(self.var_nodes[name])
        self._evaluating.discard(name)
        self._var_cache[name] = value
        return value

    def _member(self, node: Node) -> Value:
        obj_node = node.child_by_field_name("object")
        prop_node = node.child_by_field_name("property")
        if obj_node is None or prop_node is None:
            return Expr(self.text(node))
        obj = self.evaluate(obj_node)
        prop = self.text(prop_node)
        if isinstance(obj, dict) and prop in obj:
            return obj[prop]
        return Expr(self.text(node))

    def _call(self, node: Node) -> Value:
        function = node.child_by_field_name("function")
        arguments = node.child_by_field_name("arguments")
        name = self.text(function) if function is not None else ""
        args = tuple(self.evaluate(a) for a in _named(arguments)) if arguments is not None else ()
        if name == "loadJsonContent" and args and isinstance(args[0], str):
            target = self.path.parent / args[0]
            if target.is_file():
                loaded: Value = json.loads(target.read_text(encoding="utf-8"))
                return loaded
        return Call(name, args, self.text(node))

    # -- declarations ------------------------------------------------------------------------------

    def decorators(self, node: Node | None) -> dict[str, tuple[Value, ...]]:
        result: dict[str, tuple[Value, ...]] = {}
        if node is None:
            return result
        for decorator in _named(node):
            inner = _named(decorator)
            if not inner:
                continue
            value = self.evaluate(inner[0])
            if isinstance(value, Call):
                result[value.name.split(".")[-1]] = value.args
            else:
                result[self.text(inner[0]).split(".")[-1]] = ()
        return result

    def parse(self) -> BicepFile:
        root = self.tree.root_node
        result = BicepFile(self.path, self.src, self._syntax_errors(root))
        top = _named(root)
        for child in top:
            if child.type == "variable_declaration":
                parts = _named(child)
                self.var_nodes[self.text(parts[0])] = parts[-1]
            elif child.type == "parameter_declaration":
                self.param_names.add(self.text(_named(child)[0]))

        pending: Node | None = None
        for child in top:
            if child.type == "decorators":
                pending = child
                continue
            decorators = self.decorators(pending)
            pending = None
            if child.type == "target_scope_assignment":
                scope = self.evaluate(_named(child)[-1])
                result.target_scope = scope if isinstance(scope, str) else source_text(scope)
            elif child.type == "parameter_declaration":
                self._param(child, decorators, result)
            elif child.type == "variable_declaration":
                name = self.text(_named(child)[0])
                result.variables[name] = self._variable(name)
            elif child.type == "resource_declaration":
                self._resource(child, None, result)
            elif child.type == "module_declaration":
                self._module(child, result)
            elif child.type == "output_declaration":
                parts = _named(child)
                value_node = parts[-1]
                result.outputs[self.text(parts[0])] = Output(
                    self.text(parts[0]), self.text(parts[1]), self.evaluate(value_node), self.text(value_node)
                )
        self._collect(root, result)
        return result

    def _syntax_errors(self, root: Node) -> list[str]:
        errors: list[str] = []
        stack = [root]
        while stack:
            node = stack.pop()
            if node.type == "ERROR" or node.is_missing:
                line, column = node.start_point
                label = "missing " + node.type if node.is_missing else "syntax error"
                errors.append(f"{self.path}:{line + 1}:{column + 1}: {label} near {self.text(node)[:60]!r}")
            stack.extend(node.children)
        return errors

    def _param(self, node: Node, decorators: dict[str, tuple[Value, ...]], out: BicepFile) -> None:
        parts = _named(node)
        name = self.text(parts[0])
        type_text = self.text(parts[1]) if len(parts) > 1 else ""
        has_default = any(c.type == "=" for c in node.children)
        default = self.evaluate(parts[-1]) if has_default else None
        out.params[name] = Param(name, type_text, has_default, default, decorators)

    def _unwrap(self, node: Node) -> tuple[Node | None, str | None, Value | None]:
        """Return (body object, condition text, loop iterable) of a resource or module value."""
        condition: str | None = None
        loop_items: Value | None = None
        if node.type == "for_statement":
            seen_in = False
            for child in node.children:
                if child.type == "in":
                    seen_in = True
                elif seen_in and child.is_named and child.type != "comment":
                    loop_items = self.evaluate(child)
                    break
            body = node.child_by_field_name("body")
            if body is None:
                return None, None, loop_items
            node = body
        if node.type == "if_statement":
            parts = _named(node)
            condition = self.text(parts[0])
            node = parts[-1]
        return (node if node.type == "object" else None), condition, loop_items

    def _resource(self, node: Node, parent: Resource | None, out: BicepFile) -> None:
        parts = [c for c in node.children if c.type != "comment"]
        symbol = self.text(next(c for c in parts if c.type == "identifier"))
        type_value = self.evaluate(next(c for c in parts if c.type == "string"))
        type_text = type_value if isinstance(type_value, str) else source_text(type_value)
        type_name, _, api_version = type_text.partition("@")
        if parent is not None and not type_name.lower().startswith("microsoft."):
            type_name = f"{parent.type}/{type_name}"
            api_version = api_version or parent.api_version
        existing = any(c.type == "existing" for c in parts)
        value_node = parts[-1]
        body_node, condition, loop_items = self._unwrap(value_node)
        body = self._object(body_node) if body_node is not None else {}
        full_symbol = f"{parent.symbol}::{symbol}" if parent is not None else symbol
        resource = Resource(
            symbol=full_symbol,
            type=type_name,
            api_version=api_version,
            existing=existing,
            condition=condition,
            loop_items=loop_items,
            body=body,
            parent=parent.symbol if parent is not None else None,
            path=self.path,
        )
        out.resources[full_symbol] = resource
        if body_node is not None:
            for prop in _named(body_node):
                for nested in _named(prop):
                    if nested.type == "resource_declaration":
                        self._resource(nested, resource, out)

    def _module(self, node: Node, out: BicepFile) -> None:
        parts = _named(node)
        symbol = self.text(parts[0])
        source_value = self.evaluate(parts[1])
        source = source_value if isinstance(source_value, str) else source_text(source_value)
        local = None if re.match(r"^(br|ts)[:/]", source) else (self.path.parent / source).resolve()
        body_node, _, _ = self._unwrap(parts[-1])
        out.modules[symbol] = Module(symbol, source, local, self._object(body_node) if body_node else {})

    def _collect(self, root: Node, out: BicepFile) -> None:
        stack = [root]
        while stack:
            node = stack.pop()
            if node.type == "call_expression":
                function = node.child_by_field_name("function")
                name = self.text(function) if function is not None else ""
                out.calls.append(name)
                if name in {"loadTextContent", "loadJsonContent", "loadFileAsBase64", "loadYamlContent"}:
                    arguments = node.child_by_field_name("arguments")
                    first = _named(arguments)[0] if arguments is not None and _named(arguments) else None
                    target = self.evaluate(first) if first is not None else None
                    if isinstance(target, str):
                        out.loaded_files.append((self.path.parent / target).resolve())
            elif node.type == "string_content":
                out.strings.append(self.text(node))
            stack.extend(node.children)


def parse_source(source: str, path: Path | str = "snippet.bicep") -> BicepFile:
    """Parse Bicep source text (used for the negative tests)."""
    return _FileParser(Path(path), source.encode()).parse()


def parse_file(path: Path) -> BicepFile:
    return _FileParser(path.resolve(), path.read_bytes()).parse()


# ---------------------------------------------------------------------------------------------------
# Deployment graph (main.bicep plus the local modules it references)
# ---------------------------------------------------------------------------------------------------


@dataclass
class Deployment:
    main: BicepFile
    files: dict[Path, BicepFile]

    def module_file(self, module: Module) -> BicepFile:
        assert module.path is not None, f"{module.symbol} is a registry module"
        return self.files[module.path]

    def resources(self) -> Iterator[Resource]:
        for bicep in self.files.values():
            yield from bicep.resources.values()

    def resources_of_type(self, type_: str, *, include_existing: bool = False) -> list[Resource]:
        return [
            r
            for f in self.files.values()
            for r in f.resources_of_type(type_, include_existing=include_existing)
        ]


def load_deployment(main_path: Path) -> Deployment:
    files: dict[Path, BicepFile] = {}
    pending = [main_path.resolve()]
    while pending:
        path = pending.pop()
        if path in files:
            continue
        parsed = parse_file(path)
        files[path] = parsed
        pending.extend(m.path for m in parsed.modules.values() if m.path is not None)
    return Deployment(files[main_path.resolve()], files)


# ---------------------------------------------------------------------------------------------------
# Checks: each returns a list of findings, empty when compliant
# ---------------------------------------------------------------------------------------------------

ROLE_NAMES = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
    "b86a8fe4-44ce-4948-aee5-eccb2c155cd7": "Key Vault Secrets Officer",
    "a4417e6f-fecd-4de8-b567-7b0420556985": "Key Vault Certificates Officer",
}

# Broad roles nobody in this deployment may receive (control-plane write or role management).
FORBIDDEN_ROLES = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "18d7d88d-d35e-4fb5-a5c3-7773c6a72b9c": "User Access Administrator",
    "f58310d9-a9f6-439a-9e8d-f62e7b41a168": "Role Based Access Control Administrator",
    "17d1049b-9a84-46fb-8f53-869881c3d3ab": "Storage Account Contributor",
    "00482a5a-887f-4fb3-b363-3b7fe8e74483": "Key Vault Administrator",
    "f25e0fa2-a7c8-4377-a976-54943a77a395": "Key Vault Contributor",
    "de139f84-1756-47ae-9be6-808fbbe84772": "Website Contributor",
}

_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


@dataclass(frozen=True)
class RoleAssignment:
    symbol: str
    path: Path
    role_id: str | None
    principal: Value
    principal_type: Value
    scope_symbol: str | None
    scope_type: str | None
    conditional: bool
    name: Value


def _guids(value: Value) -> list[str]:
    if isinstance(value, str):
        return _GUID.findall(value)
    if isinstance(value, Call | Template):
        parts = value.args if isinstance(value, Call) else value.parts
        return [g for p in parts for g in _guids(p)]
    return []


def role_assignments(bicep: BicepFile) -> list[RoleAssignment]:
    found: list[RoleAssignment] = []
    for resource in bicep.resources_of_type("Microsoft.Authorization/roleAssignments"):
        props = resource.properties
        guids = _guids(props.get("roleDefinitionId"))
        scope_value = resource.body.get("scope")
        scope_symbol = scope_value.text if isinstance(scope_value, Expr) else None
        scope_resource = bicep.resources.get(scope_symbol) if scope_symbol else None
        found.append(
            RoleAssignment(
                symbol=resource.symbol,
                path=resource.path,
                role_id=guids[-1].lower() if guids else None,
                principal=props.get("principalId"),
                principal_type=props.get("principalType"),
                scope_symbol=scope_symbol,
                scope_type=scope_resource.type if scope_resource else None,
                conditional=resource.condition is not None,
                name=resource.name,
            )
        )
    return found


def check_role_assignments(bicep: BicepFile) -> list[str]:
    """No broad role, a resolvable role id, a resource scope and a deterministic guid() name."""
    findings: list[str] = []
    for ra in role_assignments(bicep):
        where = f"{ra.path.name}:{ra.symbol}"
        if ra.role_id is None:
            findings.append(f"{where}: role definition id is not a resolvable GUID")
        elif ra.role_id in FORBIDDEN_ROLES:
            findings.append(f"{where}: grants the broad role {FORBIDDEN_ROLES[ra.role_id]}")
        elif ra.role_id not in ROLE_NAMES:
            findings.append(f"{where}: grants role {ra.role_id}, which is not on the reviewed list")
        if ra.scope_type is None:
            findings.append(f"{where}: not scoped to a single resource (resource group or wider)")
        if not (isinstance(ra.name, Call) and ra.name.name == "guid" and len(ra.name.args) == 3):
            findings.append(f"{where}: name is not guid(scope.id, principalId, roleId)")
    return findings


def check_storage(bicep: BicepFile) -> list[str]:
    findings: list[str] = []
    for account in bicep.resources_of_type("Microsoft.Storage/storageAccounts"):
        props, where = account.properties, f"{account.path.name}:{account.symbol}"
        if props.get("allowSharedKeyAccess") is not False:
            findings.append(f"{where}: allowSharedKeyAccess must be false")
        if props.get("minimumTlsVersion") != "TLS1_2":
            findings.append(f"{where}: minimumTlsVersion must be 'TLS1_2'")
        if props.get("allowBlobPublicAccess") is not False:
            findings.append(f"{where}: allowBlobPublicAccess must be false")
        if props.get("supportsHttpsTrafficOnly") is False:
            findings.append(f"{where}: supportsHttpsTrafficOnly must not be false")
    return findings


def check_sites(bicep: BicepFile) -> list[str]:
    findings: list[str] = []
    for site in bicep.resources_of_type("Microsoft.Web/sites"):
        props, where = site.properties, f"{site.path.name}:{site.symbol}"
        site_config = props.get("siteConfig")
        site_config = site_config if isinstance(site_config, dict) else {}
        if props.get("httpsOnly") is not True:
            findings.append(f"{where}: httpsOnly must be true")
        if site_config.get("minTlsVersion") != "1.2":
            findings.append(f"{where}: siteConfig.minTlsVersion must be '1.2'")
        if site_config.get("ftpsState") != "Disabled":
            findings.append(f"{where}: siteConfig.ftpsState must be 'Disabled'")
    return findings


def check_monitoring(bicep: BicepFile) -> list[str]:
    findings: list[str] = []
    for component in bicep.resources_of_type("Microsoft.Insights/components"):
        if component.properties.get("DisableLocalAuth") is not True:
            findings.append(f"{component.path.name}:{component.symbol}: DisableLocalAuth must be true")
    for workspace in bicep.resources_of_type("Microsoft.OperationalInsights/workspaces"):
        features = workspace.properties.get("features")
        if not (isinstance(features, dict) and features.get("disableLocalAuth") is True):
            findings.append(
                f"{workspace.path.name}:{workspace.symbol}: features.disableLocalAuth must be true"
            )
    return findings


def check_key_vaults(bicep: BicepFile) -> list[str]:
    findings: list[str] = []
    for vault in bicep.resources_of_type("Microsoft.KeyVault/vaults"):
        props, where = vault.properties, f"{vault.path.name}:{vault.symbol}"
        if props.get("enableRbacAuthorization") is not True:
            findings.append(f"{where}: enableRbacAuthorization must be true")
        if props.get("accessPolicies"):
            findings.append(f"{where}: uses access policies instead of RBAC")
        if props.get("enableSoftDelete") is False:
            findings.append(f"{where}: soft delete must stay enabled")
        if props.get("enablePurgeProtection") is not True:
            findings.append(f"{where}: enablePurgeProtection must be true")
    for name in ("Microsoft.KeyVault/vaults/secrets", "Microsoft.KeyVault/vaults/accessPolicies"):
        for resource in bicep.resources_of_type(name):
            findings.append(
                f"{resource.path.name}:{resource.symbol}: declares {name}; secrets are set after deploy"
            )
    return findings


_SECRETISH_PARAM = re.compile(r"(secret|password|passwd|apikey|api_key|token|pfx|privatekey)", re.IGNORECASE)


# A literal that is a credential whatever the parameter is called: key material, signed URLs, key-based
# connection strings, webhook secrets, or a long unbroken token (base64/hex/JWT-like, no spaces or '/').
_SECRETISH_VALUE = re.compile(
    r"(-----BEGIN|AccountKey=|SharedAccess(?:Key|Signature)=|[?&]sig=|whsec_|Password=|ClientSecret=)",
    re.IGNORECASE,
)
_TOKEN_LIKE = re.compile(r"[A-Za-z0-9+_~.\-]{32,}={0,2}")


def _literal_strings(value: Value) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Template):
        yield from (part for part in value.parts if isinstance(part, str))
    elif isinstance(value, list):
        for item in value:
            yield from _literal_strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _literal_strings(item)


def looks_like_secret_value(text: str) -> bool:
    return bool(_SECRETISH_VALUE.search(text) or _TOKEN_LIKE.fullmatch(text))


def check_params(bicep: BicepFile) -> list[str]:
    """Secure params carry no default; no default looks like a credential; secret-looking params are
    secure; every param is described."""
    findings: list[str] = []
    for param in bicep.params.values():
        where = f"{bicep.path.name}:param {param.name}"
        if param.secure and param.has_default:
            findings.append(f"{where}: @secure() parameter has a default value")
        if param.has_default and any(looks_like_secret_value(t) for t in _literal_strings(param.default)):
            findings.append(f"{where}: default value looks like a secret")
        if _SECRETISH_PARAM.search(param.name) and not param.secure:
            findings.append(f"{where}: looks like a secret but is not @secure()")
        if not param.description:
            findings.append(f"{where}: missing @description")
    return findings


_SECRETISH_OUTPUT_NAME = re.compile(r"(secret|password|passwd|_key$|api_?key|token|pfx|sas)", re.IGNORECASE)
_SECRETISH_OUTPUT_VALUE = re.compile(
    r"(listKeys|listSecrets|listCredentials|listAccountSas|listServiceSas|listConnectionStrings|"
    r"AccountKey=|SharedAccessKey|primaryKey|secondaryKey|primaryMasterKey|\.secret\b|password)",
    re.IGNORECASE,
)


def check_outputs(bicep: BicepFile) -> list[str]:
    findings: list[str] = []
    secure_params = {p.name for p in bicep.params.values() if p.secure}
    for output in bicep.outputs.values():
        where = f"{bicep.path.name}:output {output.name}"
        if _SECRETISH_OUTPUT_NAME.search(output.name):
            findings.append(f"{where}: output name suggests a secret")
        if _SECRETISH_OUTPUT_VALUE.search(output.text):
            findings.append(f"{where}: output value reads a key or secret ({output.text[:60]!r})")
        if any(re.search(rf"\b{re.escape(name)}\b", output.text) for name in secure_params):
            findings.append(f"{where}: output exposes a @secure() parameter")
        if output.type.lower().startswith("secure"):
            findings.append(f"{where}: secure outputs are still persisted in deployment history; avoid them")
    return findings


def check_no_key_access(bicep: BicepFile) -> list[str]:
    """No list*() key functions and no key-based connection strings anywhere in the file."""
    findings: list[str] = []
    for call in bicep.calls:
        if re.fullmatch(r"(?:.*\.)?list\w*", call):
            findings.append(f"{bicep.path.name}: calls {call}() which returns keys or secrets")
    for fragment in bicep.strings:
        if re.search(r"AccountKey=|SharedAccessSignature=|SharedAccessKey=", fragment):
            findings.append(f"{bicep.path.name}: string contains a key-based connection string")
    if b"outputs-should-not-contain-secrets" in bicep.source:
        findings.append(f"{bicep.path.name}: suppresses the outputs-should-not-contain-secrets linter rule")
    return findings


def object_variants(value: Value) -> list[dict[str, Value]]:
    """Every object a value may deploy as, expanding union(...) and a ? b : c."""
    if isinstance(value, dict):
        return [value]
    if isinstance(value, Choice):
        return object_variants(value.options[0]) + object_variants(value.options[1])
    if isinstance(value, Call) and value.name == "union":
        variants: list[dict[str, Value]] = [{}]
        for arg in value.args:
            arg_variants = object_variants(arg)
            if not arg_variants:
                return []
            variants = [{**left, **right} for left in variants for right in arg_variants]
        return variants
    return []


def is_key_vault_reference(value: Value) -> bool:
    if isinstance(value, str):
        return value.startswith("@Microsoft.KeyVault(")
    if isinstance(value, Template):
        return value.literal_prefix.startswith("@Microsoft.KeyVault(")
    return False


_SECRET_SETTING = re.compile(r"(_API_KEY|_SECRET|_CERTIFICATE|_PASSWORD)$")


def app_settings_variants(bicep: BicepFile) -> list[dict[str, Value]]:
    variants: list[dict[str, Value]] = []
    for config in bicep.resources_of_type("Microsoft.Web/sites/config"):
        if config.name == "appsettings":
            variants.extend(object_variants(config.body.get("properties")))
    for site in bicep.resources_of_type("Microsoft.Web/sites"):
        site_config = site.properties.get("siteConfig")
        if isinstance(site_config, dict) and isinstance(site_config.get("appSettings"), list):
            pairs = site_config["appSettings"]
            assert isinstance(pairs, list)
            variants.append({str(p.get("name")): p.get("value") for p in pairs if isinstance(p, dict)})
    return variants


def check_app_settings(bicep: BicepFile) -> list[str]:
    """Secret-named settings are Key Vault references; host storage uses the identity form."""
    findings: list[str] = []
    for settings in app_settings_variants(bicep):
        for key, value in settings.items():
            if _SECRET_SETTING.search(key) and not is_key_vault_reference(value):
                findings.append(f"{bicep.path.name}: app setting {key} is not a Key Vault reference")
        if "AzureWebJobsStorage" in settings:
            findings.append(f"{bicep.path.name}: AzureWebJobsStorage connection string instead of identity")
    return findings


ALL_FILE_CHECKS = (
    check_storage,
    check_sites,
    check_monitoring,
    check_key_vaults,
    check_params,
    check_outputs,
    check_no_key_access,
    check_app_settings,
    check_role_assignments,
)


def check_file(bicep: BicepFile) -> list[str]:
    findings = list(bicep.syntax_errors)
    for check in ALL_FILE_CHECKS:
        findings.extend(check(bicep))
    return findings
