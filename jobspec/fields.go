package jobspec

import (
	"reflect"
	"strings"
	"time"

	"github.com/orch-project/orch/structs"
)

// The field-state table: for every field of the job model, whether orch
// acts on it (Works, with the tests that prove it), refuses it (Refused,
// with the message users see), follows its enclosing block (Part) or keeps
// it itself (Server). Validate refuses what this table refuses, on every
// path a job arrives by (HCL with file:line:col, API JSON with the field
// path), and docs/job-fields.md is generated from it.
//
// Making a feature work: implement it, add a test that shows its effect
// at runtime, and change its row from refused(...) to works(..., "TestX")
// in the same change; review the Part rows of its block. TestFieldTable
// fails when a field of package structs has no row, when a named test
// does not exist, or when docs/job-fields.md is stale (regenerate with
// `go test ./jobspec -run TestFieldDocs -update`).

// Messages for blocks that need systems orch does not run.
const (
	msgVault      = "Vault is not available: orch does not run Vault"
	msgConsul     = "Consul is not available: orch does not run Consul"
	msgConnect    = "Consul Connect is not available: orch does not run Consul"
	msgCSI        = "CSI volumes are not available: orch does not run CSI plugins"
	msgEnterprise = "is a Nomad Enterprise feature orch does not have"
)

var fieldTable = map[string]FieldRow{
	// job
	"Job.Region":                   works("region", "TestBuild"),
	"Job.Namespace":                works("namespace", "TestBuild"),
	"Job.ID":                       works("", "TestBuild"),
	"Job.ParentID":                 server(""),
	"Job.Name":                     works("name", "TestBuild"),
	"Job.Type":                     works("type", "TestMainTaskSuccessByJobType", "TestSystemJobEveryEligibleNodeAndLateJoiner"),
	"Job.Priority":                 works("priority", "TestBrokerPriorityOrder"),
	"Job.AllAtOnce":                works("all_at_once", "TestAllAtOnceJobMakesAllOrNothingPlan", "TestPlanApplierAllAtOnceIsAllOrNothing"),
	"Job.Datacenters":              works("datacenters", "TestNodeChecks"),
	"Job.NodePool":                 works("node_pool", "TestNodeChecks"),
	"Job.Constraints":              works("constraint", "TestConstraintOperands"),
	"Job.Affinities":               works("affinity", "TestAffinityPrefersFewMatchingNodes", "TestPlacementPreferencesE2E"),
	"Job.Spreads":                  works("spread", "TestSpreadEvenAcrossValues", "TestSpreadTargets", "TestPlacementPreferencesE2E"),
	"Job.TaskGroups":               works("group", "TestServicePlacesCount"),
	"Job.Update":                   works("update", "TestRollingUpdateCanaryAutoRevert", "TestRollingUpdateMaxParallel", "TestCanaryThenPromote", "TestHealthHookHealthyAfterMinHealthyTime"),
	"Job.Periodic":                 works("periodic", "TestLaunchPlan", "TestPeriodicDispatcherLaunches", "TestPeriodicProhibitOverlapAndForce", "TestPeriodicCatchUpAfterOutage", "TestPeriodicOncePerTickAcrossLeaderKill"),
	"Job.ParameterizedJob":         works("parameterized", "TestDispatchJob", "TestDispatch100WithPayloads"),
	"Job.Reschedule":               works("reschedule", "TestRescheduleDelaySeries", "TestServiceReschedulesFailedWithinPolicy"),
	"Job.Migrate":                  works("migrate", migrateTests...).refusingIn("refused on non-service jobs", serviceMigrate),
	"Job.Meta":                     works("meta", "TestBuild"),
	"Job.Dispatched":               server(""),
	"Job.Payload":                  server(""),
	"Job.Stop":                     works("", "TestServiceJobStopAndDeregister"),
	"Job.Status":                   server(""),
	"Job.StatusDescription":        server(""),
	"Job.Stable":                   server(""),
	"Job.Version":                  server(""),
	"Job.SubmitTime":               server(""),
	"Job.CreateIndex":              server(""),
	"Job.ModifyIndex":              server(""),
	"Job.JobModifyIndex":           server(""),
	"Job.Multiregion":              refused("multiregion", "multiregion "+msgEnterprise),
	"Job.UI":                       works("ui", "TestJobUIStoredAndReturned"),
	"Job.DispatchIdempotencyToken": server(""),
	"Job.ConsulNamespace":          refused("", msgConsul),
	"Job.VaultNamespace":           refused("", msgVault),
	"Job.NomadTokenID":             server(""),
	"Job.VersionTag":               server(""),

	// constraint, affinity, spread
	"Constraint.LTarget":   works("attribute", "TestConstraintOperands"),
	"Constraint.RTarget":   works("value", "TestConstraintOperands"),
	"Constraint.Operand":   works("operator", "TestConstraintOperands", "TestDistinctProperty", "TestDistinctHosts"),
	"Affinity.LTarget":     part("attribute"),
	"Affinity.RTarget":     part("value"),
	"Affinity.Operand":     part("operator"),
	"Affinity.Weight":      part("weight"),
	"Spread.Attribute":     part("attribute"),
	"Spread.Weight":        part("weight"),
	"Spread.SpreadTarget":  part("target"),
	"SpreadTarget.Value":   part(""),
	"SpreadTarget.Percent": part("percent"),

	// group
	"TaskGroup.Name":                      works("", "TestBuild"),
	"TaskGroup.Count":                     works("count", "TestServicePlacesCount", "TestServiceScaleUpAndDown"),
	"TaskGroup.Constraints":               works("constraint", "TestConstraintOperands"),
	"TaskGroup.Affinities":                works("affinity", "TestAffinityYieldsToFeasibility", "TestPlacementPreferencesE2E"),
	"TaskGroup.Spreads":                   works("spread", "TestSpreadTargets", "TestSpreadMultipleAttributes", "TestSpreadMissingPropertyPenalized"),
	"TaskGroup.Tasks":                     works("task", "TestSameJobShapeAllDrivers"),
	"TaskGroup.Volumes":                   works("volume", "TestHostVolumeE2E", "TestVolumesResolve", "TestHostVolumeFeasibility", "TestPlacementPreferencesE2E"),
	"TaskGroup.RestartPolicy":             works("restart", "TestRestartTrackerFailMode", "TestRestartTrackerDelayMode"),
	"TaskGroup.ReschedulePolicy":          works("reschedule", "TestRescheduleDelaySeries", "TestServiceReschedulesFailedWithinPolicy"),
	"TaskGroup.EphemeralDisk":             works("ephemeral_disk", "TestResourceDimensionsPacked"),
	"TaskGroup.Update":                    works("update", "TestRollingUpdateCanaryAutoRevert", "TestRollingUpdateMaxParallel", "TestCanaryThenPromote", "TestHealthHookHealthyAfterMinHealthyTime"),
	"TaskGroup.Migrate":                   works("migrate", migrateTests...).refusingIn("refused on non-service jobs", serviceMigrate),
	"TaskGroup.Networks":                  works("network", "TestServicePortMapping", "TestRawExecTaskBindsDynamicPort"),
	"TaskGroup.Meta":                      works("meta", "TestBuild"),
	"TaskGroup.Services":                  works("service", "TestServiceDiscoveryTemplateFollowsInstances", "TestRegistrarConvergesThroughOutages", "TestServiceCanaryTagsAndInPlaceUpdates", "TestBridgeNetworkE2E", "TestAllocAddressMode"),
	"TaskGroup.ShutdownDelay":             works("shutdown_delay", "TestGroupShutdownDelay", "TestJobStopShutdownDelay"),
	"TaskGroup.StopAfterClientDisconnect": works("stop_after_client_disconnect", "TestStopOnClientAfterDelaysReplacement", "TestStopAfterFollowsDisconnectPolicy"),
	"TaskGroup.MaxClientDisconnect":       works("max_client_disconnect", "TestNodeStatusChangeMarksAllocsPerDisconnectPolicy", "TestStopAfterFollowsDisconnectPolicy"),
	"TaskGroup.Disconnect": works("disconnect", "TestDisconnectReplacePlacesBesideUnknown", "TestDisconnectNoReplaceWaitsForLost",
		"TestReconnectReconcileStrategies", "TestClientStopsAllocsWhenCutOff", "TestClientCutOffForAMinuteComesBack"),
	"TaskGroup.PreventRescheduleOnLost": works("prevent_reschedule_on_lost", "TestPreventRescheduleOnLost"),
	"TaskGroup.MaxRunDuration":          works("max_run_duration", "TestMaxRunDuration", "TestMaxRunDurationCountsAcrossAgentRestart", "TestMaxRunDurationFailsAlloc"),
	"TaskGroup.Scaling":                 works("scaling", "TestJobScaleBoundedByPolicy", "TestScalingPoliciesServed"),
	"TaskGroup.Consul":                  refused("consul", msgConsul),

	// task
	"Task.Name":            works("", "TestBuild"),
	"Task.Driver":          works("driver", "TestSameJobShapeAllDrivers"),
	"Task.User":            works("user", "TestPlainRunsAsTaskUser", "TestUnprivilegedTaskWritesItsDirs"),
	"Task.Lifecycle":       works("lifecycle", "TestAllocRunnerLifecycleBatch"),
	"Task.Config":          works("config", "TestSameJobShapeAllDrivers"),
	"Task.Constraints":     works("constraint", "TestConstraintOperands"),
	"Task.Affinities":      works("affinity", "TestAffinityPrefersFewMatchingNodes"),
	"Task.Env":             works("env", "TestBuild"),
	"Task.Services":        works("service", "TestTaskServiceChecksAndCheckRestart", "TestBuildRegistrations", "TestScriptChecksRunInsideIsolatedTasks"),
	"Task.Resources":       works("resources", "TestResourceDimensionsPacked"),
	"Task.RestartPolicy":   works("restart", "TestTaskRunnerRestartsThenFails"),
	"Task.Meta":            works("meta", "TestBuild"),
	"Task.KillTimeout":     works("kill_timeout", "TestTaskRunnerKillUsesSignalAndTimeout"),
	"Task.LogConfig":       works("logs", "TestTaskRunnerRotatesLogs", "TestTaskRunnerLogsDisabled"),
	"Task.Artifacts":       works("artifact", "TestArtifactE2E", "TestArtifactChecksum", "TestArtifactArchiveUnpacked", "TestArtifactArchiveEscapes", "TestArtifactSizeLimits", "TestArtifactSandbox"),
	"Task.Templates":       works("template", "TestVariableTemplateEnvRestarts", "TestServiceDiscoveryTemplateFollowsInstances", "TestTemplateRendersWaitsAndFollowsData", "TestTemplateSourceOnceWaitAndScript"),
	"Task.DispatchPayload": works("dispatch_payload", "TestDispatchPayloadWritten", "TestDispatch100WithPayloads"),
	"Task.VolumeMounts":    works("volume_mount", "TestHostVolumeE2E", "TestExecHostVolumeMount", "TestDockerHostVolumeMount"),
	"Task.Leader":          works("leader", "TestAllocRunnerLeaderDeathKillsSiblings"),
	"Task.ShutdownDelay":   works("shutdown_delay", "TestTaskShutdownDelay", "TestJobStopShutdownDelay"),
	"Task.KillSignal":      works("kill_signal", "TestTaskRunnerKillUsesSignalAndTimeout"),
	"Task.Kind":            refused("kind", msgConnect),
	"Task.Vault":           refused("vault", msgVault),
	"Task.Consul":          refused("consul", msgConsul),
	"Task.CSIPluginConfig": refused("csi_plugin", msgCSI),
	"Task.ScalingPolicies": refused("scaling", "vertical scaling (scaling \"cpu\"/\"mem\") "+msgEnterprise),
	"Task.Secrets":         works("secret", "TestSecretBlockE2E", "TestSecretParsed"),
	"Task.Identity":        works("identity", "TestWorkloadIdentityInTask", "TestPrestartDeliversTheIdentity", "TestWorkloadIdentitySignAndResolve"),
	"Task.Identities":      refused("identity", "named workload identities (for Vault, Consul or cloud providers) are not supported yet; the default identity (no name) is"),
	"Task.Actions":         works("action", "TestJobActionE2E", "TestJobActionEndpoint", "TestActionParsed"),
	"Task.Schedule":        refused("schedule", "task schedules "+msgEnterprise),

	"Secret.Name":     part(""),
	"Secret.Provider": part("provider").refusing("nomad only: vault and custom provider plugins are refused", secretProviderMsg),
	"Secret.Path":     part("path"),
	"Secret.Config":   part("config"),
	"Secret.Env":      refused("env", "secret env is for custom secret provider plugins, which orch does not run"),

	"Action.Name":    part(""),
	"Action.Command": part("command"),
	"Action.Args":    part("args"),

	"TaskLifecycle.Hook":    works("hook", "TestAllocRunnerLifecycleBatch"),
	"TaskLifecycle.Sidecar": works("sidecar", "TestAllocRunnerSidecarKilledWhenMainDone"),

	// service (group and task), check, check_restart
	"Service.Name":              part("name"),
	"Service.Tags":              part("tags"),
	"Service.CanaryTags":        part("canary_tags"),
	"Service.EnableTagOverride": refused("enable_tag_override", msgConsul),
	"Service.PortLabel":         part("port"),
	"Service.AddressMode":       part("address_mode").refusing("auto, host and alloc (with a bridge or cni/* group network); driver and alloc_ipv6 are refused", addressModeMsg),
	"Service.Address":           part("address"),
	"Service.Checks":            part("check"),
	"Service.Meta":              part("meta"),
	"Service.CanaryMeta":        part("canary_meta"),
	"Service.TaggedAddresses":   refused("tagged_addresses", msgConsul),
	"Service.TaskName":          part("task"),
	"Service.OnUpdate":          part("on_update"),
	"Service.Provider":          part("provider").refusing("nomad only: consul is refused", serviceProviderMsg),
	"Service.CheckRestart":      part("check_restart"),
	"Service.Connect":           refused("connect", msgConnect),
	"Service.Identity":          refused("identity", "service identities are for Consul: "+msgConsul),
	"Service.Weights":           refused("weights", msgConsul),
	"Service.Cluster":           refused("cluster", msgConsul).unless(func(v any, _ *structs.Job) bool { return v.(string) == "default" }),
	"Service.Kind":              refused("kind", msgConnect),

	"ServiceCheck.Name":                   part("name"),
	"ServiceCheck.Type":                   part("type"),
	"ServiceCheck.Command":                part("command"),
	"ServiceCheck.Args":                   part("args"),
	"ServiceCheck.Path":                   part("path"),
	"ServiceCheck.Protocol":               part("protocol"),
	"ServiceCheck.PortLabel":              part("port"),
	"ServiceCheck.Expose":                 refused("expose", "expose creates a Consul Connect proxy path; "+msgConnect),
	"ServiceCheck.AddressMode":            part("address_mode").refusing("host and alloc (with a bridge or cni/* group network); driver and alloc_ipv6 are refused", addressModeMsg),
	"ServiceCheck.Interval":               part("interval"),
	"ServiceCheck.Timeout":                part("timeout"),
	"ServiceCheck.InitialStatus":          part("initial_status"),
	"ServiceCheck.TLSSkipVerify":          part("tls_skip_verify"),
	"ServiceCheck.Header":                 part("header"),
	"ServiceCheck.Method":                 part("method"),
	"ServiceCheck.Body":                   part("body"),
	"ServiceCheck.CheckRestart":           part("check_restart"),
	"ServiceCheck.TaskName":               part("task"),
	"ServiceCheck.SuccessBeforePassing":   part("success_before_passing"),
	"ServiceCheck.FailuresBeforeCritical": part("failures_before_critical"),
	"ServiceCheck.OnUpdate":               part("on_update"),
	"ServiceCheck.FailuresBeforeWarning":  part("failures_before_warning"),
	"ServiceCheck.Advertise":              refused("advertise", msgConsul),
	"ServiceCheck.Notes":                  refused("notes", msgConsul),
	"ServiceCheck.TLSServerName":          part("tls_server_name"),
	"ServiceCheck.GRPCService":            part("grpc_service"),
	"ServiceCheck.GRPCUseTLS":             part("grpc_use_tls"),

	"CheckRestart.Limit":          part("limit"),
	"CheckRestart.Grace":          part("grace"),
	"CheckRestart.IgnoreWarnings": part("ignore_warnings"),

	// The default identity: env and file work; what only named identities
	// for third parties use (audiences, expiry and rotation, extra claims)
	// is refused.
	"WorkloadIdentity.Name": part("name").refusing("only the default identity", func(v any) string {
		if n := v.(string); n != "" && n != "default" {
			return "named workload identities are not supported yet"
		}
		return ""
	}),
	"WorkloadIdentity.Audience": part("aud").refusing("only nomadproject.io", func(v any) string {
		for _, a := range v.([]string) {
			if a != "nomadproject.io" {
				return "identity audiences other than nomadproject.io are not supported yet"
			}
		}
		return ""
	}),
	"WorkloadIdentity.ChangeMode":   part("change_mode").refusing("any value", nonEmpty("identity change_mode is not supported: the default identity does not expire")),
	"WorkloadIdentity.ChangeSignal": part("change_signal").refusing("any value", nonEmpty("identity change_signal is not supported: the default identity does not expire")),
	"WorkloadIdentity.Env":          part("env"),
	"WorkloadIdentity.File":         part("file"),
	"WorkloadIdentity.Filepath":     part("filepath").refusing("any value", nonEmpty("identity filepath is not supported yet: the token is written to secrets/nomad_token")),
	"WorkloadIdentity.ServiceName":  part("service_name").refusing("any value", nonEmpty("identity service_name is for Consul: "+msgConsul)),
	"WorkloadIdentity.TTL": part("ttl").refusing("any value", func(v any) string {
		if v.(time.Duration) != 0 {
			return "identity ttl is not supported yet: the default identity lives as long as its allocation"
		}
		return ""
	}),
	"WorkloadIdentity.ExtraClaims": part("extra_claims").refusing("any value", func(v any) string {
		if len(v.([]string)) > 0 {
			return "identity extra_claims are not supported yet"
		}
		return ""
	}),

	"ServiceWeights.Passing": part("passing"),
	"ServiceWeights.Warning": part("warning"),

	// resources, devices, networks
	"Resources.CPU":         works("cpu", "TestResourceDimensionsPacked", "TestBuild"),
	"Resources.Cores":       works("cores", "TestCoresReservedExclusively", "TestCoresPinnedE2E", "TestExecPinnedToReservedCores", "TestDockerPinnedToReservedCores"),
	"Resources.MemoryMB":    works("memory", "TestResourceDimensionsPacked", "TestOOMKilled"),
	"Resources.MemoryMaxMB": works("memory_max", "TestMemoryMaxIsHardLimit"),
	"Resources.DiskMB":      works("disk", "TestLegacyTaskDisk", "TestResourceDimensionsPacked"),
	"Resources.Networks":    works("network", "TestTaskLevelNetworkE2E", "TestTaskNetworkFolded").refusingIn("folded into the group's network (mode host): mbits and port only; refused when that would change its meaning", taskNetworkRefusal).documentedElsewhere(),
	"Resources.Devices":     works("device", "TestDevicesAssignedByInstance", "TestDeviceConstraintsAndMissingDevice", "TestGPUDevicesGrantedE2E"),
	"Resources.NUMA":        refused("numa", "NUMA-aware scheduling "+msgEnterprise),
	"Resources.SecretsMB":   works("secrets", "TestSecretsDirIsSizedTmpfs", "TestSecretsTmpfsE2E", "TestResourceDimensionsPacked"),
	"Resources.IOPS":        deprecated("iops"),

	"NetworkResource.Mode":          works("mode", "TestServicePortMapping", "TestBridgeNetworkE2E", "TestBridgeNetworkDockerE2E", "TestBridgeNamespacePortMapAndTeardown", "TestNoneAndCNIModes").refusing("host, bridge, none and cni/<name>", networkModeMsg),
	"NetworkResource.Device":        server(""),
	"NetworkResource.CIDR":          server(""),
	"NetworkResource.IP":            server(""),
	"NetworkResource.Hostname":      works("hostname", "TestBridgeNetworkDockerE2E", "TestBridgeDockerEtcHosts", "TestGroupNamespaceRefusals"),
	"NetworkResource.MBits":         deprecated("mbits"),
	"NetworkResource.DNS":           works("dns", "TestDNSWrittenToResolvConf", "TestBridgeNetworkE2E", "TestBridgeNetworkDockerE2E"),
	"NetworkResource.ReservedPorts": works("port", "TestStaticPortCollision", "TestServicePortMapping"),
	"NetworkResource.DynamicPorts":  works("port", "TestRawExecTaskBindsDynamicPort", "TestServicePortMapping"),
	"NetworkResource.CNI":           works("cni", "TestNoneAndCNIModes"),

	"DNSConfig.Servers":  part("servers"),
	"DNSConfig.Searches": part("searches"),
	"DNSConfig.Options":  part("options"),

	"Port.Label":           works("", "TestServicePortMapping"),
	"Port.Value":           works("static", "TestStaticPortCollision"),
	"Port.To":              works("to", "TestServicePortMapping", "TestBridgeNamespacePortMapAndTeardown", "TestBridgeNetworkE2E"),
	"Port.HostNetwork":     works("host_network", "TestHostNetworkPlacementAndAddress", "TestHostNetworksFingerprint", "TestHostNetworkE2E"),
	"Port.IgnoreCollision": works("ignore_collision", "TestIgnoreCollisionSharesStaticPort", "TestPortAllocatorIgnoreCollision", "TestIgnoreCollisionE2E"),

	"CNIConfig.Args": part("args"),

	"RequestedDevice.Name":        part(""),
	"RequestedDevice.Count":       part("count"),
	"RequestedDevice.Constraints": part("constraint"),
	"RequestedDevice.Affinities":  part("affinity"),

	// restart, reschedule, logs, ephemeral disk
	"RestartPolicy.Attempts":        works("attempts", "TestRestartTrackerFailMode"),
	"RestartPolicy.Interval":        works("interval", "TestRestartTrackerFailMode"),
	"RestartPolicy.Delay":           works("delay", "TestRestartTrackerDelayMode"),
	"RestartPolicy.Mode":            works("mode", "TestRestartTrackerFailMode", "TestRestartTrackerDelayMode"),
	"RestartPolicy.RenderTemplates": works("render_templates", "TestTemplateRenderTemplatesOnRestart"),

	"ReschedulePolicy.Attempts":      works("attempts", "TestServiceReschedulesFailedWithinPolicy"),
	"ReschedulePolicy.Interval":      works("interval", "TestServiceReschedulesFailedWithinPolicy"),
	"ReschedulePolicy.Delay":         works("delay", "TestRescheduleDelaySeries"),
	"ReschedulePolicy.DelayFunction": works("delay_function", "TestRescheduleDelaySeries"),
	"ReschedulePolicy.MaxDelay":      works("max_delay", "TestRescheduleExponentialCappedAtMaxDelay"),
	"ReschedulePolicy.Unlimited":     works("unlimited", "TestRescheduleDelaySeries"),

	"LogConfig.MaxFiles":      works("max_files", "TestTaskRunnerRotatesLogs"),
	"LogConfig.MaxFileSizeMB": works("max_file_size", "TestTaskRunnerRotatesLogs"),
	"LogConfig.Disabled":      works("disabled", "TestTaskRunnerLogsDisabled"),
	"LogConfig.Enabled":       works("enabled", "TestTaskRunnerLogsDisabled", "TestLogsEnabledFoldsIntoDisabled"),

	"EphemeralDisk.Sticky":  works("sticky", "TestStickyDiskReplacementPrefersPreviousNode", "TestHookMovesLocalDataAfterPreviousStops", "TestStickyDiskE2E"),
	"EphemeralDisk.Migrate": works("migrate", "TestStickyDiskReplacementPrefersPreviousNode", "TestHookFetchesRemoteData", "TestHookRemoteFailuresStartEmpty", "TestMigrateDiskE2E", "TestMigrateDiskPreviousNodeDownE2E", "TestMigrateDiskTLSE2E"),
	"EphemeralDisk.SizeMB":  works("size", "TestResourceDimensionsPacked"),

	// artifact, template, dispatch_payload, volume_mount, scaling
	"TaskArtifact.GetterSource":   part("source").refusing("s3 and gcs sources are refused (fetch over https)", artifactSourceMsg),
	"TaskArtifact.GetterOptions":  part("options"),
	"TaskArtifact.GetterHeaders":  part("headers"),
	"TaskArtifact.GetterMode":     part("mode"),
	"TaskArtifact.RelativeDest":   part("destination"),
	"TaskArtifact.GetterInsecure": part("insecure"),
	"TaskArtifact.Chown":          part("chown"),

	"Template.SourcePath":    part("source"),
	"Template.DestPath":      part("destination"),
	"Template.EmbeddedTmpl":  part("data"),
	"Template.ChangeMode":    part("change_mode"),
	"Template.ChangeSignal":  part("change_signal"),
	"Template.Splay":         part("splay"),
	"Template.Perms":         part("perms"),
	"Template.Uid":           part("uid"),
	"Template.Gid":           part("gid"),
	"Template.LeftDelim":     part("left_delimiter"),
	"Template.RightDelim":    part("right_delimiter"),
	"Template.Envvars":       part("env"),
	"Template.ErrMissingKey": part("error_on_missing_key"),
	"Template.ChangeScript":  part("change_script"),
	"Template.Once":          part("once"),
	"Template.VaultGrace":    refused("vault_grace", msgVault),
	"Template.Wait":          part("wait"),

	"ChangeScript.Command":          part("command"),
	"ChangeScript.Args":             part("args"),
	"ChangeScript.Timeout":          part("timeout"),
	"ChangeScript.FailOnError":      part("fail_on_error"),
	"ChangeScript.RunOnFirstRender": part("run_on_first_render"),

	"WaitConfig.Min": part("min"),
	"WaitConfig.Max": part("max"),

	"DispatchPayloadConfig.File": part("file"),

	"VolumeMount.Volume":          part("volume"),
	"VolumeMount.Destination":     part("destination"),
	"VolumeMount.ReadOnly":        part("read_only"),
	"VolumeMount.PropagationMode": part("propagation_mode"),
	"VolumeMount.SELinuxLabel":    refused("selinux_label", "SELinux labels are not supported"),

	"ScalingPolicy.ID":          server(""),
	"ScalingPolicy.Namespace":   server(""),
	"ScalingPolicy.Type":        works("type", "TestScalingPoliciesServed"),
	"ScalingPolicy.Target":      server(""),
	"ScalingPolicy.Policy":      works("policy", "TestScalingPoliciesServed"),
	"ScalingPolicy.Min":         works("min", "TestJobScaleBoundedByPolicy"),
	"ScalingPolicy.Max":         works("max", "TestJobScaleBoundedByPolicy"),
	"ScalingPolicy.Enabled":     works("enabled", "TestScalingPoliciesServed"),
	"ScalingPolicy.CreateIndex": server(""),
	"ScalingPolicy.ModifyIndex": server(""),

	// volume (group)
	"VolumeRequest.Name":           part(""),
	"VolumeRequest.Type":           part("type").refusing("csi is refused (only host volumes)", volumeTypeMsg),
	"VolumeRequest.Source":         part("source"),
	"VolumeRequest.ReadOnly":       part("read_only"),
	"VolumeRequest.AccessMode":     refused("access_mode", msgCSI),
	"VolumeRequest.AttachmentMode": refused("attachment_mode", msgCSI),
	"VolumeRequest.MountOptions":   refused("mount_options", msgCSI),
	"VolumeRequest.PerAlloc":       refused("per_alloc", "per_alloc is only for CSI volumes, which orch does not run"),
	"VolumeRequest.Sticky":         refused("sticky", "sticky volumes are dynamic host volumes, which orch does not have"),
	"CSIMountOptions.FSType":       part("fs_type"),
	"CSIMountOptions.MountFlags":   part("mount_flags"),

	// update, migrate, disconnect, periodic, parameterized
	"UpdateStrategy.Stagger":          part("stagger"),
	"UpdateStrategy.MaxParallel":      part("max_parallel"),
	"UpdateStrategy.HealthCheck":      part("health_check"),
	"UpdateStrategy.MinHealthyTime":   part("min_healthy_time"),
	"UpdateStrategy.HealthyDeadline":  part("healthy_deadline"),
	"UpdateStrategy.ProgressDeadline": part("progress_deadline"),
	"UpdateStrategy.Canary":           part("canary"),
	"UpdateStrategy.AutoRevert":       part("auto_revert"),
	"UpdateStrategy.AutoPromote":      part("auto_promote"),

	"MigrateStrategy.MaxParallel":     part("max_parallel"),
	"MigrateStrategy.HealthCheck":     part("health_check"),
	"MigrateStrategy.MinHealthyTime":  part("min_healthy_time"),
	"MigrateStrategy.HealthyDeadline": part("healthy_deadline"),

	"DisconnectStrategy.LostAfter":         part("lost_after"),
	"DisconnectStrategy.Replace":           part("replace"),
	"DisconnectStrategy.Reconcile":         part("reconcile"),
	"DisconnectStrategy.StopOnClientAfter": part("stop_on_client_after"),

	"PeriodicConfig.Enabled":         part("enabled"),
	"PeriodicConfig.Spec":            part("cron"),
	"PeriodicConfig.Specs":           part("crons"),
	"PeriodicConfig.SpecType":        part(""),
	"PeriodicConfig.ProhibitOverlap": part("prohibit_overlap"),
	"PeriodicConfig.TimeZone":        part("time_zone"),

	"ParameterizedJobConfig.Payload":      part("payload"),
	"ParameterizedJobConfig.MetaRequired": part("meta_required"),
	"ParameterizedJobConfig.MetaOptional": part("meta_optional"),

	// ui
	"JobUIConfig.Description": works("description", "TestJobUIStoredAndReturned"),
	"JobUIConfig.Links":       works("link", "TestJobUIStoredAndReturned"),
	"JobUILink.Label":         works("label", "TestJobUIStoredAndReturned"),
	"JobUILink.URL":           works("url", "TestJobUIStoredAndReturned"),

	"JobVersionTag.Name":        server(""),
	"JobVersionTag.Description": server(""),
	"JobVersionTag.TaggedTime":  server(""),
}

// migrateTests prove the migrate block: the node drainer moves a group
// max_parallel at a time, replacements counted once healthy.
var migrateTests = []string{"TestDrainerMigratesMaxParallel", "TestNodeDrainMigratesMaxParallel"}

// serviceMigrate refuses a migrate block on a job the node drainer does
// not migrate (batch work finishes or is stopped at the drain's deadline,
// system work leaves last), as Nomad's docs say only service jobs use it.
func serviceMigrate(_ any, job *structs.Job) string {
	if job.Type == structs.JobTypeService || job.Type == "" {
		return ""
	}
	return "migrate blocks are only supported for service jobs"
}

func volumeTypeMsg(v any) string {
	if v.(string) == structs.VolumeTypeCSI {
		return msgCSI
	}
	return ""
}

func artifactSourceMsg(v any) string {
	src := strings.ToLower(v.(string))
	for _, p := range []string{"s3::", "gcs::", "s3://", "gs://", "gcs://"} {
		if strings.HasPrefix(src, p) {
			return "s3 and gcs artifact sources are not supported: fetch the object over https instead"
		}
	}
	return ""
}

func networkModeMsg(v any) string {
	switch m := v.(string); {
	case m == "" || m == "host" || m == "bridge" || m == "none" || strings.HasPrefix(m, "cni/"):
		return ""
	default:
		return "network mode \"" + m + "\" is not supported"
	}
}

var _ = time.Second
var _ = reflect.TypeOf

// nonEmpty refuses any non-empty string with msg.
func nonEmpty(msg string) func(v any) string {
	return func(v any) string {
		if v.(string) != "" {
			return msg
		}
		return ""
	}
}
