package service

func (s *Service) recipeHandlers() map[string]Handler {
	return map[string]Handler{}
}
