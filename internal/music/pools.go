package music

// Word pools the generator draws names from. They are read-only tables;
// combining them gives tens of thousands of distinct, plausible names
// without shipping a real catalog.

var firstNames = [...]string{
	"Ava", "Liam", "Noah", "Emma", "Olivia", "Lucas", "Mia", "Ethan", "Sofia", "Mateo",
	"Amara", "Kenji", "Yuna", "Ingrid", "Lars", "Chloé", "Hugo", "Elif", "Tariq", "Nia",
	"Diego", "Camila", "Aiko", "Freya", "Oskar", "Priya", "Ravi", "Zanele", "Kofi", "Marisol",
	"Jonah", "Hazel", "Miles", "Nina", "Otis", "Ruby", "Silas", "Ivy", "Felix", "June",
	"Dolores", "Curtis", "Etta", "Marvin", "Aretha", "Bobby", "Joni", "Gram", "Patsy", "Townes",
}

var lastNames = [...]string{
	"Hart", "Monroe", "Castillo", "Nakamura", "Lindqvist", "Okafor", "Delacroix", "Brennan", "Silva", "Kowalski",
	"Reyes", "Fontaine", "Whitaker", "Adeyemi", "Park", "Hollis", "Moreau", "Vance", "Abernathy", "Quinn",
	"Sato", "Mbeki", "Larsen", "Cruz", "Harlan", "Ashby", "Valentine", "Greer", "Holloway", "Rivers",
	"Jensen", "Carver", "Duarte", "Iwasaki", "Ferreira", "Blackwood", "Sinclair", "Okoro", "Marlowe", "Everly",
}

var adjectives = [...]string{
	"Midnight", "Golden", "Electric", "Silver", "Broken", "Velvet", "Wild", "Neon", "Quiet", "Burning",
	"Lonely", "Crimson", "Endless", "Hollow", "Paper", "Restless", "Sweet", "Cold", "Blue", "Sacred",
	"Faded", "Northern", "Southern", "Frozen", "Borrowed", "Painted", "Distant", "Little", "Heavy", "Secret",
}

var nouns = [...]string{
	"Highway", "Heart", "River", "Summer", "Fire", "Rain", "Dreams", "City", "Moon", "Ocean",
	"Garden", "Shadows", "Thunder", "Radio", "Stranger", "Lights", "Mountain", "Horizon", "Echo", "Window",
	"Letters", "Diamonds", "Satellite", "Harbor", "Wolves", "Sparrow", "Avenue", "Mirror", "Ghost", "Season",
}

var pluralNouns = [...]string{
	"Wolves", "Strangers", "Satellites", "Sparrows", "Echoes", "Rivals", "Saints", "Outlaws", "Lovers", "Machines",
	"Tigers", "Ramblers", "Pilots", "Drifters", "Comets", "Kings", "Sisters", "Brothers", "Ghosts", "Vandals",
}

var gerunds = [...]string{
	"Chasing", "Dancing", "Running", "Waiting", "Falling", "Burning", "Holding", "Dreaming", "Driving", "Leaving",
}

var titleSuffixes = [...]string{
	" (Live)", " (Remastered)", " - Radio Edit", " (Acoustic)", " (Extended Mix)", " (Demo)", " - Mono", " (2011 Remaster)",
}

var labels = [...]string{
	"Blue Harbor Records", "Northern Lights Music", "Velvet Static", "Ironwood Recordings", "Paper Moon Records",
	"Crescent City Sound", "Analog Heart", "Sundial Music Group", "Black Orchid", "Kestrel Records",
	"Longplay Entertainment", "Riverbend Audio", "Polar Tone", "Saltwater Sound", "Monarch & Finch",
}

// countries are ISO 3166-1 alpha-2 codes, weighted by repetition toward
// the markets that register the most recordings.
var countries = [...]string{
	"US", "US", "US", "US", "GB", "GB", "DE", "FR", "SE", "JP",
	"KR", "CA", "AU", "BR", "NG", "JM", "MX", "NL", "IT", "ES",
}

var tagPool = [...]string{
	"chill", "workout", "party", "melancholy", "road trip", "80s", "90s", "indie", "acoustic", "live",
	"love", "summer", "focus", "sleep", "throwback", "anthem", "instrumental", "cover", "soundtrack", "remix",
}
