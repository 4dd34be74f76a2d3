package devstack

import (
	"fmt"
	"net"
	"strconv"

	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/membership/static"
	"go.temporal.io/server/common/primitives"
	"go.temporal.io/server/temporal"

	"github.com/courier-mq/courier/internal/freeport"
)

// clusterName names the single cluster; it is stored in the database, so it
// never changes.
const clusterName = "active"

// Names of the two data stores in the server's persistence config.
const (
	mainStore       = "main"
	visibilityStore = "visibility"
)

// serverOptions builds the options of a single-node Temporal server: all four
// services in this process, found through static hosts (no ringpop), on
// stores.
func serverOptions(cfg TemporalConfig, stores temporalStores, logger serverLogger) ([]temporal.ServerOption, error) {
	frontend := net.JoinHostPort(dialHost(cfg.Host), strconv.Itoa(cfg.Port))
	// Every port but the frontend's gRPC port is a free one, so none clashes
	// with a Temporal server or anything else on the well-known ports (7234,
	// 7235, 7239, 7243, ...). The HTTP API serves Nexus and curl users.
	httpPort, err := freeport.Port(cfg.Host)
	if err != nil {
		return nil, fmt.Errorf("port for temporal frontend http: %w", err)
	}
	frontendHTTP := net.JoinHostPort(dialHost(cfg.Host), strconv.Itoa(httpPort))
	services := map[string]config.Service{
		string(primitives.FrontendService): {RPC: config.RPC{GRPCPort: cfg.Port, HTTPPort: httpPort, BindOnIP: cfg.Host}},
	}
	hosts := map[primitives.ServiceName]static.Hosts{
		primitives.FrontendService: static.SingleLocalHost(frontend),
	}
	for _, name := range []primitives.ServiceName{
		primitives.HistoryService, primitives.MatchingService, primitives.WorkerService,
	} {
		port, err := freeport.Port(loopback)
		if err != nil {
			return nil, fmt.Errorf("port for temporal %s service: %w", name, err)
		}
		services[string(name)] = config.Service{RPC: config.RPC{GRPCPort: port, BindOnIP: loopback}}
		hosts[name] = static.SingleLocalHost(net.JoinHostPort(loopback, strconv.Itoa(port)))
	}

	conf := &config.Config{
		Global: config.Global{Membership: config.Membership{BroadcastAddress: loopback}},
		Persistence: config.Persistence{
			DefaultStore:     mainStore,
			VisibilityStore:  visibilityStore,
			NumHistoryShards: stores.numShards,
			DataStores: map[string]config.DataStore{
				mainStore:       {SQL: stores.main},
				visibilityStore: {SQL: stores.visibility},
			},
		},
		ClusterMetadata: &cluster.Config{
			FailoverVersionIncrement: 10,
			MasterClusterName:        clusterName,
			CurrentClusterName:       clusterName,
			ClusterInformation: map[string]cluster.ClusterInformation{
				clusterName: {
					Enabled:                true,
					InitialFailoverVersion: 1,
					RPCAddress:             frontend,
					HTTPAddress:            frontendHTTP,
				},
			},
		},
		DCRedirectionPolicy: config.DCRedirectionPolicy{Policy: "noop"},
		Services:            services,
		Archival: config.Archival{
			History:    config.HistoryArchival{State: "disabled"},
			Visibility: config.VisibilityArchival{State: "disabled"},
		},
		NamespaceDefaults: config.NamespaceDefaults{Archival: config.ArchivalNamespaceDefaults{
			History:    config.HistoryArchivalNamespaceDefaults{State: "disabled"},
			Visibility: config.VisibilityArchivalNamespaceDefaults{State: "disabled"},
		}},
		PublicClient: config.PublicClient{HostPort: frontend},
	}

	return []temporal.ServerOption{
		temporal.WithConfig(conf),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(hosts),
		temporal.WithLogger(logger),
		temporal.WithAuthorizer(authorization.NewNoopAuthorizer()),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper {
			return authorization.NewNoopClaimMapper()
		}),
		temporal.WithDynamicConfigClient(devDynamicConfig()),
	}, nil
}

// devDynamicConfig holds what differs from the server defaults on a dev
// machine. Update-with-start, CHASM and the rest are on by default in v1.32.
//
// system.forceSearchAttributesCacheRefreshOnRead is deliberately not set: with
// SQL visibility a custom search attribute is an alias in the namespace record,
// so that flag (which re-reads the cluster-wide type map) would cost a database
// read per request and make nothing visible sooner. createNamespace stores the
// attributes with the namespace instead.
func devDynamicConfig() dynamicconfig.StaticClient {
	return dynamicconfig.StaticClient{
		// The Web UI polls list and count queries; the default of 10 per
		// second throttles it while Courier lists messages too.
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
		// One partition per task queue: a single worker's few pollers then
		// wait on the partition every task lands on, so tasks are matched in
		// memory instead of written to SQLite and read back. Measured in
		// docs/performance.md: more bare workflows per second and a far
		// shorter tail than the default of four partitions.
		dynamicconfig.MatchingNumTaskqueueReadPartitions.Key():  1,
		dynamicconfig.MatchingNumTaskqueueWritePartitions.Key(): 1,
		// The transfer queue hands new workflow tasks (a started message's
		// first task) to matching. Its reader loads at most this many times a
		// second per shard, 20 by default, and the embedded server on SQLite
		// has one shard: at 22 messages/s a start waited for a load, and a
		// confirm that arrives meanwhile waits for that first task. Measured
		// in docs/performance.md: confirm → on Kafka p50 is 34 ms at 20 (at
		// 22/s) and 9-10 ms from 50 up (at 24/s); bare workflows at full speed, where
		// fewer loads take bigger batches, 88-92/s at 20, 87-89/s at 100,
		// 83/s at 200 and 79/s at 1000.
		dynamicconfig.TransferProcessorMaxPollRPS.Key(): 100,
	}
}
