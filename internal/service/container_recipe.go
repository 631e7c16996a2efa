package service

func (s *Service) containerRecipeHandlers() map[string]Handler {
	return map[string]Handler{}
}
