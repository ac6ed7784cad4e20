// Package docker implements watchdog.Docker by shelling out to the docker
// CLI through an exec.CommandRunner.
//
// Every value reaches docker as its own argv element in --flag=value form,
// and the image is preceded by "--", so no registry value can become a flag.
// Errors carry docker's stderr, which is what an operator needs to read.
package docker
