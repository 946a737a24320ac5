package group

import "errors"

// Sentinel errors; the handler package maps each to its Kafka error code.
var (
	ErrNotCoordinator          = errors.New("not the coordinator for this group")
	ErrLoading                 = errors.New("coordinator is loading group state")
	ErrCoordinatorNotAvailable = errors.New("coordinator not available")
	ErrInvalidGroupID          = errors.New("invalid group id")
	ErrUnknownMember           = errors.New("unknown member id")
	ErrMemberIDRequired        = errors.New("member id required")
	ErrIllegalGeneration       = errors.New("illegal generation")
	ErrRebalanceInProgress     = errors.New("rebalance in progress")
	ErrInconsistentProtocol    = errors.New("inconsistent group protocol")
	ErrInvalidSessionTimeout   = errors.New("invalid session timeout")
	ErrGroupMaxSize            = errors.New("group max size reached")
	ErrFencedInstance          = errors.New("static member fenced by a newer instance")
	ErrGroupNotFound           = errors.New("group id not found")
	ErrNonEmptyGroup           = errors.New("group is not empty")
	ErrSubscribedToTopic       = errors.New("group is subscribed to the topic")
	ErrOffsetMetadataTooLarge  = errors.New("offset metadata too large")
)
