package workspace

// EnvVars are the environment variables that name the workspace when no
// --workspace flag is given, in the order they are read: noderun's own first,
// then WORKSPACE, which Jenkins sets for every build and the reference CI
// scripts already use. `noderun submit` and `noderun merge` both read them, so
// a workspace set once in CI reaches both. Treat it as read-only.
var EnvVars = []string{"NODERUN_WORKSPACE", "WORKSPACE"}
