// Package charttest renders and checks the Helm chart in deploy/helm/strom;
// its tests are the whole package.
package charttest
