package control

// Calls of the native service catalog and of templates: a client writes
// the service instances of its own allocations, and its one template
// watcher reads services and (its workloads') variables.
const (
	// MethodServicesUpsert registers or refreshes service instances of
	// the calling node's allocations (structs.ServiceRegistrationsRequest).
	MethodServicesUpsert = "Service.Upsert"
	// MethodServicesDeregister removes service instances of the calling
	// node (structs.ServiceDeregisterRequest).
	MethodServicesDeregister = "Service.Deregister"
	// MethodTemplateWatch is the blocking query of the client's template
	// watcher (structs.TemplateWatchRequest → TemplateWatchResponse).
	MethodTemplateWatch = "Template.Watch"
)
