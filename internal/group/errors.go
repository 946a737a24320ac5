package group

import "github.com/strom-broker/strom/internal/errcode"

// Sentinel errors (defined in errcode, which gives each its Kafka error code).
var (
	ErrNotCoordinator          = errcode.ErrNotCoordinator
	ErrLoading                 = errcode.ErrLoading
	ErrCoordinatorNotAvailable = errcode.ErrCoordinatorNotAvailable
	ErrInvalidGroupID          = errcode.ErrInvalidGroupID
	ErrUnknownMember           = errcode.ErrUnknownMember
	ErrMemberIDRequired        = errcode.ErrMemberIDRequired
	ErrIllegalGeneration       = errcode.ErrIllegalGeneration
	ErrRebalanceInProgress     = errcode.ErrRebalanceInProgress
	ErrInconsistentProtocol    = errcode.ErrInconsistentProtocol
	ErrInvalidSessionTimeout   = errcode.ErrInvalidSessionTimeout
	ErrGroupMaxSize            = errcode.ErrGroupMaxSize
	ErrFencedInstance          = errcode.ErrFencedInstance
	ErrGroupNotFound           = errcode.ErrGroupNotFound
	ErrNonEmptyGroup           = errcode.ErrNonEmptyGroup
	ErrSubscribedToTopic       = errcode.ErrSubscribedToTopic
	ErrOffsetMetadataTooLarge  = errcode.ErrOffsetMetadataTooLarge
)
