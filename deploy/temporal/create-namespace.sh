#!/bin/sh
# Waits until the Temporal cluster reports healthy, then registers the namespace
# Courier runs in unless it exists. Courier registers its own search attributes
# (CourierStatus, CourierTopic) on that namespace when it starts.
set -eu

: "${TEMPORAL_ADDRESS:?TEMPORAL_ADDRESS is required}"
: "${TEMPORAL_NAMESPACE:?TEMPORAL_NAMESPACE is required}"
retention=${TEMPORAL_NAMESPACE_RETENTION:-168h}

attempt=1
until temporal operator cluster health --address "${TEMPORAL_ADDRESS}"; do
	if [ "${attempt}" -ge 60 ]; then
		echo "temporal-namespace: ${TEMPORAL_ADDRESS} not healthy after ${attempt} attempts" >&2
		exit 1
	fi
	attempt=$((attempt + 1))
	sleep 2
done

if temporal operator namespace describe --namespace "${TEMPORAL_NAMESPACE}" --address "${TEMPORAL_ADDRESS}" >/dev/null 2>&1; then
	echo "temporal-namespace: ${TEMPORAL_NAMESPACE} exists"
	exit 0
fi
temporal operator namespace create --namespace "${TEMPORAL_NAMESPACE}" --retention "${retention}" --address "${TEMPORAL_ADDRESS}"
echo "temporal-namespace: ${TEMPORAL_NAMESPACE} created with ${retention} retention"
