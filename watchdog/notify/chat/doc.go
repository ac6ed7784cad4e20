// Package chat delivers notifications to chat and e-mail services through
// github.com/nicholas-fedor/shoutrrr (slack://, discord://, telegram://,
// ntfy://, gotify://, smtp://, generic://, ...). A URL is checked with
// shoutrrr's own router and the service's own parser, so what `notify add`
// accepts is what shoutrrr can send to.
package chat
