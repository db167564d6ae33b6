// Keeps the guest module non-empty before its first source lands.
