package tokens

// FamilyTenant is the refresh store tenant of refresh families, for tests
// that inspect what is stored.
const FamilyTenant = familyTenant
