package service

func (s *Service) imageHandlers() map[string]Handler {
	return map[string]Handler{}
}
