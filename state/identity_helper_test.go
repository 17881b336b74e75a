package state

import "github.com/interruptions/interruptions/core/vcc"

// fillIdentity sets the conversationId and interactionId the channel does
// not have yet, and the party when it has none, without a carrier: as a
// changelog value of version 3 left them, before every event. The engine
// uses OfferIdentity; the tests use this to build such channels.
func (c *Channel) fillIdentity(conversationID, interactionID string, party vcc.Party) {
	if c.kinds[fieldConversation] == 0 {
		c.setIdent(fieldConversation, conversationID)
	}
	if c.kinds[fieldInteraction] == 0 {
		c.setIdent(fieldInteraction, interactionID)
	}
	if c.role == 0 && c.kinds[numIdents] == 0 && c.kinds[fieldUser] == 0 {
		c.setParty(party)
	}
	c.tidy()
}
