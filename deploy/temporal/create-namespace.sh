#!/bin/sh
# One-shot (the `temporal-namespace` service of docker-compose.yml): the namespace with its retention, and the
# complaint search attributes (COMPLAINTS_SEARCH_ATTRIBUTES, `Name=Type ...`, checked against
# workflows/visibility.py by tests/test_compose.py). Safe on every start: what exists is updated or kept.
set -eu
: "${TEMPORAL_ADDRESS:?}" "${TEMPORAL_NAMESPACE:?}" "${TEMPORAL_RETENTION:?}" "${COMPLAINTS_SEARCH_ATTRIBUTES:?}"
if temporal operator namespace describe --namespace "$TEMPORAL_NAMESPACE" >/dev/null 2>&1; then
    temporal operator namespace update --namespace "$TEMPORAL_NAMESPACE" --retention "$TEMPORAL_RETENTION"
else
    temporal operator namespace create --namespace "$TEMPORAL_NAMESPACE" --retention "$TEMPORAL_RETENTION"
fi
existing="$(temporal operator search-attribute list --namespace "$TEMPORAL_NAMESPACE")"
for pair in $COMPLAINTS_SEARCH_ATTRIBUTES; do
    name="${pair%%=*}"
    if printf '%s\n' "$existing" | grep -qw "$name"; then
        echo "search attribute $name exists"
    else
        temporal operator search-attribute create --namespace "$TEMPORAL_NAMESPACE" --name "$name" --type "${pair#*=}"
    fi
done
echo "namespace $TEMPORAL_NAMESPACE ready"
