// Phone numbers are personal data: they never appear in logs unmasked and never in metric labels.
#pragma once

#include <string>
#include <string_view>

namespace wa {

// "+15551234567" -> "+1555*****67"; keeps the first 4 and last 2 digits of numbers longer than 6.
std::string mask_phone(std::string_view phone);
// "15551234567:3@s.whatsapp.net" -> "1555*****67:3@s.whatsapp.net"; group/LID/server JIDs keep
// their server part, only the user part is masked.
std::string mask_jid(std::string_view jid);

}  // namespace wa
