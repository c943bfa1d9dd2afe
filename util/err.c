/* Error registry lookups. */
#include "util/err.h"

const char *qs_err_str(int e)
{
    switch (e) {
#define QS_ERR_STR_(name, value, text)                                                             \
    case (value):                                                                                  \
        return (text);
        QS_ERROR_LIST(QS_ERR_STR_)
#undef QS_ERR_STR_
    }
    return "unknown error";
}

const char *qs_err_name(int e)
{
    switch (e) {
#define QS_ERR_NAME_(name, value, text)                                                            \
    case (value):                                                                                  \
        return #name;
        QS_ERROR_LIST(QS_ERR_NAME_)
#undef QS_ERR_NAME_
    }
    return "QS_ERR_UNKNOWN";
}
