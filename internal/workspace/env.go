package workspace

// EnvVars name the workspace when no --workspace flag is given, in the order
// read: noderun's own, then WORKSPACE, which Jenkins sets for every build, so
// that one value reaches submit and merge alike. Do not modify.
var EnvVars = []string{"NODERUN_WORKSPACE", "WORKSPACE"}
