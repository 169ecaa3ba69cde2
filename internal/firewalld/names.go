package firewalld

// D-Bus names of firewalld 1.x, named once. The introspection XML of 1.3.3
// is in shared/reference/firewalld-lab/introspect.
const (
	// BusName is firewalld's well-known name on the system bus.
	BusName = "org.fedoraproject.FirewallD1"
	// ObjectPath is the path of firewalld's runtime object.
	ObjectPath = "/org/fedoraproject/FirewallD1"
	// ConfigPath is the path of firewalld's permanent configuration object.
	ConfigPath = "/org/fedoraproject/FirewallD1/config"

	// Interface is firewalld's main interface (reload, Reloaded, state).
	Interface = BusName
	// InterfaceZone holds the runtime zone methods (addSource, getSources).
	InterfaceZone = BusName + ".zone"
	// InterfaceIPSet holds the runtime ipset methods (addEntry, setEntries).
	InterfaceIPSet = BusName + ".ipset"
	// InterfaceConfig holds the permanent config methods (getZoneByName, addIPSet).
	InterfaceConfig = BusName + ".config"
	// InterfaceConfigZone is the interface of one permanent zone object.
	InterfaceConfigZone = BusName + ".config.zone"
	// InterfaceConfigIPSet is the interface of one permanent ipset object.
	InterfaceConfigIPSet = BusName + ".config.ipset"
	// ExceptionName is the D-Bus error name of every firewalld error; its
	// body is "CODE: message".
	ExceptionName = BusName + ".Exception"
	// SignalReloaded is the member firewalld emits after a (complete) reload.
	SignalReloaded = "Reloaded"

	dbusName             = "org.freedesktop.DBus"
	dbusPath             = "/org/freedesktop/DBus"
	dbusNameOwnerChanged = "NameOwnerChanged"
	propertiesGet        = "org.freedesktop.DBus.Properties.Get"
)

// firewalld error codes synguard acts on (firewall/errors.py).
const (
	// CodeAlreadyEnabled answers adding what is there (ipset entry,
	// permanent zone source): success for an idempotent add.
	CodeAlreadyEnabled = "ALREADY_ENABLED"
	// CodeNotEnabled answers removing what is not there: success for an
	// idempotent remove.
	CodeNotEnabled = "NOT_ENABLED"
	// CodeZoneAlreadySet answers adding a runtime source already in the zone.
	CodeZoneAlreadySet = "ZONE_ALREADY_SET"
	// CodeUnknownSource answers removing a runtime source that is in no zone.
	CodeUnknownSource = "UNKNOWN_SOURCE"
	// CodeZoneConflict means the source is bound to another zone: not ours.
	CodeZoneConflict = "ZONE_CONFLICT"
	// CodeInvalidZone names a zone that does not exist.
	CodeInvalidZone = "INVALID_ZONE"
	// CodeInvalidIPSet names an ipset that does not exist (in the runtime:
	// it may exist in the permanent config and wait for a reload).
	CodeInvalidIPSet = "INVALID_IPSET"
	// CodeInvalidAddr is an unparsable source address.
	CodeInvalidAddr = "INVALID_ADDR"
	// CodeInvalidEntry is a bad or overlapping ipset entry.
	CodeInvalidEntry = "INVALID_ENTRY"
	// CodeNameConflict answers creating an ipset or zone that exists.
	CodeNameConflict = "NAME_CONFLICT"
	// CodeNotRunning is firewalld's code for a daemon that is not (yet)
	// running; Up also reports it when the state property is not RUNNING.
	CodeNotRunning = "NOT_RUNNING"
)
