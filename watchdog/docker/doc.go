// Package docker implements watchdog.Docker by shelling out to the docker
// CLI through an exec.CommandRunner.
//
// Every value reaches docker as the argv element right after its flag, which
// docker always takes as that flag's value, and the registry refuses names
// and images that start with '-' (the image ends docker's flags; the command
// after it belongs to the container), so no registry value can become a
// flag. The argv is the contract's, `docker run -d --name N --restart
// unless-stopped ...`, so fakes that read it literally work.
// Errors carry docker's stderr, which is what an operator needs to read.
package docker
