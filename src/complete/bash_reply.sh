    if [[ $? != 0 ]]; then
        unset COMPREPLY
        return
    fi
    COMPREPLY=()
    local _nrec_c
    while IFS= read -r -d $'\013' _nrec_c; do
        [[ -z $_nrec_c ]] && continue
        case $_nrec_q in
            \') [[ $_nrec_c == *\'* ]] && continue ;;
            \") _nrec_c=${_nrec_c//\\/\\\\}
                _nrec_c=${_nrec_c//\$/\\\$}
                _nrec_c=${_nrec_c//\`/\\\`}
                _nrec_c=${_nrec_c//\"/\\\"} ;;
            *) [[ $_nrec_c == *[!A-Za-z0-9_@%+=:,./-]* ]] && printf -v _nrec_c '%q' "$_nrec_c" ;;
        esac
        COMPREPLY+=("$_nrec_c")
    done < <(printf '%s\013' "$_nrec_out")
    if 
